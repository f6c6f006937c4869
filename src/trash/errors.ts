// Every failure the trash reports to a user: the message is what the CLI prints.
export class TrashError extends Error {
  override readonly name = 'TrashError';
}
