// The per-document toolkit: secrets and hard negatives as labelled spans, bound to the
// document's own PRNG, plus small text helpers the templates share.
import {
  ALNUM, HEX, MAKE, N, PFX, S, cardLuhnInvalid, certificatePem, checksumValid, ibanBadChecksum, ipv4, person, semver, sshPublicKey,
  ssnInvalid, type Doc, type NegativeKind, type Person, type Piece, type Rng, type SecretType, type Span,
} from './gen.js';

const NEG: Partial<Record<NegativeKind, (r: Rng) => string>> = {
  git_sha: (r) => r.hex(40),
  uuid: (r) => r.uuid(),
  hex_digest: (r) => r.hex(64),
  integrity_hash: (r) => `sha512-${r.bytes(64).toString('base64')}`,
  base64_blob: (r) => r.bytes(r.int(24, 96)).toString('base64'),
  ssh_public_key: (r) => sshPublicKey(r, r.pick(['ed25519', 'rsa', 'ecdsa'] as const)),
  ssh_fingerprint: (r) => `SHA256:${r.bytes(32).toString('base64').replace(/=+$/, '')}`,
  x509_certificate: (r) => certificatePem(r),
  docker_digest: (r) => `sha256:${r.hex(64)}`,
  password_hash: (r) => `$2b$12$${r.str('./' + ALNUM, 53)}`,
  hex_color: (r) => `#${r.str(HEX, 6)}`,
  ip_address: (r) => ipv4(r),
  mac_address: (r) => Array.from({ length: 6 }, () => r.str(HEX, 2)).join(':'),
  version_string: (r) => semver(r),
  build_number: (r) => `${r.int(2025, 2026)}${String(r.int(1, 12)).padStart(2, '0')}${String(r.int(1, 28)).padStart(2, '0')}.${r.int(1, 9)}`,
  timestamp: (r) => String(1773000000 + r.int(0, 9_000_000)),
  card_luhn_invalid: (r) => cardLuhnInvalid(r, r.pick(['space', 'dash', 'none'] as const)),
  ssn_invalid: (r) => ssnInvalid(r),
  iban_bad_checksum: (r) => ibanBadChecksum(r),
  checksum_invalid_token: (r) => {
    for (;;) {
      const t = PFX.ghp + r.tok(ALNUM, 36);
      if (!checksumValid(PFX.ghp, t)) return t;
    }
  },
  publishable_key: (r) => PFX.pkLive + r.tok(ALNUM, 24),
  public_id: (r) => `cus_${r.tok(ALNUM, 14)}`,
  sentry_dsn: (r) => `https://${r.hex(32)}@o${r.int(100000, 999999)}.ingest.sentry.io/${r.int(1000000, 9999999)}`,
  reserved_email: (r) => `${r.pick(['user', 'admin', 'jane.doe', 'test', 'you', 'ops'])}@${r.pick(['example.com', 'example.org', 'example.net', 'service.test', 'host.invalid', 'mail.example'])}`,
};

export interface Kit {
  r: Rng;
  /** A fresh secret of `type` as a labelled span. */
  s(type: SecretType, variant?: string, also?: readonly SecretType[]): Span;
  /** A labelled span around a given secret text. */
  sv(type: SecretType, text: string, also?: readonly SecretType[]): Span;
  /** A hard negative (generated, or the given text). */
  n(kind: NegativeKind, text?: string): Span;
  /** A person with a labelled e-mail address. */
  who(): Person & { mail: Span };
}

export function kit(r: Rng): Kit {
  return {
    r,
    s: (type, variant, also) => S(type, MAKE[type](r, variant), also),
    sv: (type, text, also) => S(type, text, also),
    n: (kind, text) => {
      if (text !== undefined) return N(kind, text);
      const make = NEG[kind];
      if (!make) throw new Error(`negative ${kind} needs its text`);
      return N(kind, make(r));
    },
    who: () => {
      const p = person(r);
      return { ...p, mail: S('email', p.email) };
    },
  };
}

/** `NAME=value` lines. */
export function envLines(d: Doc, entries: readonly (readonly [string, Piece])[], opts: { prefix?: string; quote?: string } = {}): void {
  for (const [k, v] of entries) d.add(opts.prefix ?? '', k, '=', opts.quote ?? '', v, opts.quote ?? '', '\n');
}

/** A timestamp clock that advances by random steps (ms). */
export function clock(r: Rng, start: number, minStep: number, maxStep: number): () => number {
  let t = start;
  return () => (t += r.int(minStep, maxStep));
}

export const pad2 = (n: number): string => String(n).padStart(2, '0');
