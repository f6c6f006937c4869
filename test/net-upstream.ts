// The "internet" of the network end-to-end test, run INSIDE the sandbox's network namespace
// (nsenter --net), where loopback is all there is: a DNS server on 127.0.0.1:5353 serving
// the name map given as argv[2] (JSON), and HTTP servers on 127.0.0.1 at the ports in
// argv[3] (comma list) answering `upstream-ok METHOD URL HOST`. Every request is printed on
// stdout as `req METHOD URL HOST`, every DNS question as `dns NAME`; `ready` when listening.
import { createServer } from 'node:http';
import { startTestDns } from './dns-server.js';

const map = JSON.parse(process.argv[2] ?? '{}') as Record<string, string[]>;
const ports = (process.argv[3] ?? '80').split(',').map(Number);

const dns = await startTestDns(map, { port: 5353 });
let printed = 0;
setInterval(() => {
  while (dns.queries.length > printed) process.stdout.write(`dns ${dns.queries[printed++]}\n`);
}, 20).unref();
for (const port of ports) {
  const server = createServer((req, res) => {
    process.stdout.write(`req ${req.method} ${req.url} ${req.headers.host ?? ''}\n`);
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    // POST bodies are echoed: the tests read what the LLM proxy forwarded.
    req.on('end', () => res.end(`upstream-ok ${req.method} ${req.url} ${req.headers.host ?? ''} ${Buffer.concat(body).length}\n${req.method === 'POST' ? Buffer.concat(body).toString() : ''}`));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
}
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
