// Corpus documents: application and system logs, `curl -v` transcripts, JSON API responses.
import { ALNUM, B64URL, Doc, HEX, S, USER_AGENTS, WORDS, cardLuhnInvalid, isoTime, jstr, json, makeJwt, privateKeyPem, type JVal, type Piece, type Rng, type Span } from './gen.js';
import { clock, pad2, type Kit } from './kit.js';
import type { DocSpec } from './index.js';

const ROUTES = ['/v1/orders', '/v1/orders/{id}', '/v1/customers/{id}', '/v1/cart', '/v1/cart/items', '/v1/search', '/healthz', '/metrics', '/v1/invoices/{id}/pdf', '/v1/products', '/v1/products/{id}/reviews', '/v1/sessions'];
const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUSES = [200, 200, 200, 200, 200, 201, 204, 304, 400, 401, 404, 409, 500, 502];

const route = (r: Rng): string => r.pick(ROUTES).replace('{id}', String(r.int(1000, 999999)));
const ms = (r: Rng): string => (r.next() * r.pick([5, 40, 300, 2000])).toFixed(1);
const orderId = (r: Rng): string => `ord_${r.tok(ALNUM, 16)}`;

const I18N_MESSAGES = [
  'Bestellung bestätigt — Lieferung in 2–3 Werktagen',
  'commande expédiée à Montréal (colis n° 48213)',
  'ご注文ありがとうございます（注文確定）',
  'pedido cancelado: stock insuficiente en almacén São Paulo',
  'Zahlung fehlgeschlagen: Kartenprüfung abgelehnt',
  'отправка уведомления отложена',
  'cache warm-up done ✓ 🚀',
];

function appServerLog(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 17, 6, 0, 0), 3, 700);
  const lvl = (l: string) => l.padEnd(5);
  for (let i = 0; i < 2700; i++) {
    const ts = isoTime(tick());
    const x = r.next();
    const rid = r.uuid();
    if (x < 0.008) {
      const p = k.who();
      d.t`${ts} ${lvl('INFO')} [auth] login ok user=${p.mail} ip=${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)} mfa=${r.pick(['totp', 'webauthn', 'sms'])} req=${rid}\n`;
    } else if (x < 0.012) {
      d.t`${ts} ${lvl('INFO')} [auth] token refresh ok client=svc-${r.pick(WORDS)} scopes=orders:read req=${rid}\n`;
    } else if (x < 0.014) {
      d.t`${ts} ${lvl('DEBUG')} [http.client] POST https://api.stripe.com/v1/payment_intents headers={"Authorization": "Bearer ${s('stripe_key', 'live')}", "Idempotency-Key": "${r.uuid()}"}\n`;
    } else if (x < 0.017) {
      d.t`${ts} ${lvl('DEBUG')} [llm] request model=gpt-4o-mini max_tokens=512 headers={'authorization': 'Bearer ${s('openai_api_key')}', 'openai-organization': 'org-${r.tok(ALNUM, 24)}'}\n`;
    } else if (x < 0.019) {
      d.t`${ts} ${lvl('INFO')} [auth] session expired user_id=${r.int(1000, 99999)} req=${rid}\n`;
    } else if (x < 0.023) {
      d.t`${ts} ${lvl('DEBUG')} [auth] verifying bearer token ${s('jwt')} aud=orders-api\n`;
    } else if (x < 0.026) {
      d.t`${ts} ${lvl('ERROR')} [db] connection failed: could not connect to postgres://orders_svc:${s('database_url')}@pg-primary.internal:5432/orders: dial tcp ${r.int(10, 10)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}:5432: i/o timeout (attempt ${r.int(1, 5)}/5)\n`;
    } else if (x < 0.0285) {
      d.t`${ts} ${lvl('INFO')} [notify] SMS queued to=${s('phone')} template=order_shipped order=${orderId(r)}\n`;
    } else if (x < 0.032) {
      d.t`${ts} ${lvl('WARN')} [alerts] slack webhook fallback in use: ${s('slack_webhook')}\n`;
    } else if (x < 0.034) {
      d.t`${ts} ${lvl('ERROR')} [billing] charge failed card=${s('credit_card')} exp=${pad2(r.int(1, 12))}/${r.int(27, 31)} reason=do_not_honor customer=${n('public_id')}\n`;
    } else if (x < 0.038) {
      d.t`${ts} ${lvl('INFO')} [billing] charge ok card=**** **** **** ${r.digits(4)} amount=${r.int(100, 99999)} currency=eur pi=pi_${r.tok(ALNUM, 24)}\n`;
    } else if (x < 0.042) {
      d.t`${ts} ${lvl('INFO')} [orders] imported legacy order number=${n('card_luhn_invalid', cardLuhnInvalid(r, 'none'))} batch=${r.int(1, 400)}\n`;
    } else if (x < 0.045) {
      d.t`${ts} ${lvl('INFO')} [deploy] release ${n('version_string')} build=${n('build_number')} sha=${n('git_sha')}\n`;
    } else if (x < 0.05) {
      d.t`${ts} ${lvl('INFO')} [i18n] ${r.pick(I18N_MESSAGES)} req=${rid}\n`;
    } else if (x < 0.053) {
      d.t`${ts} ${lvl('DEBUG')} [cache] set key=product:${r.int(1, 99999)} etag=${n('hex_digest')} ttl=300\n`;
    } else if (x < 0.0545) {
      d.t`${ts} ${lvl('WARN')} [storage] retrying upload with DefaultEndpointsProtocol=https;AccountName=acmeuploads;AccountKey=${s('azure_storage_key')};EndpointSuffix=core.windows.net\n`;
    } else if (x < 0.056) {
      d.t`${ts} ${lvl('DEBUG')} [mail] sendgrid client init key=${s('sendgrid_api_key')}\n`;
    } else if (x < 0.058) {
      d.t`${ts} ${lvl('INFO')} [support] ticket #${r.int(10000, 99999)} opened by ${k.who().mail} phone ${s('phone')}\n`;
    } else if (x < 0.06) {
      d.t`${ts} ${lvl('INFO')} [config] feature flags loaded rev=${n('uuid')} color=${n('hex_color')} ts=${n('timestamp')}\n`;
    } else {
      const st = r.pick(STATUSES);
      const lv = st >= 500 ? 'ERROR' : st >= 400 ? 'WARN' : 'INFO';
      d.add(`${ts} ${lvl(lv)} [http] ${r.pick(METHODS)} ${route(r)} ${st} ${ms(r)}ms req=${rid} ua="${r.pick(USER_AGENTS)}"\n`);
    }
  }
  return d;
}

function nginxAccessLog(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 17, 6, 25, 0), 10, 1500);
  const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const clf = (t: number) => {
    const dt = new Date(t);
    return `${pad2(dt.getUTCDate())}/${MON[dt.getUTCMonth()]}/${dt.getUTCFullYear()}:${pad2(dt.getUTCHours())}:${pad2(dt.getUTCMinutes())}:${pad2(dt.getUTCSeconds())} +0000`;
  };
  const ip = () => `${r.pick([34, 52, 81, 93, 104, 142, 185, 203, 212])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
  for (let i = 0; i < 2300; i++) {
    const t = tick();
    const x = r.next();
    const st = r.pick(STATUSES);
    const tail = ` ${st} ${r.int(0, 90000)} "${r.pick(['-', 'https://app.acme-corp.io/', 'https://www.google.com/'])}" "${r.pick(USER_AGENTS)}" rt=${(r.next() * 0.8).toFixed(3)} uct="0.000" uht="${(r.next() * 0.5).toFixed(3)}" urt="${(r.next() * 0.7).toFixed(3)}"\n`;
    let path: Piece;
    if (x < 0.006) path = ['/maps/api/geocode/json?address=', r.pick(WORDS), '+street&key=', s('google_api_key')];
    else if (x < 0.01) path = ['/v1/export?format=csv&access_token=', s('jwt')];
    else if (x < 0.013) path = ['/v1/newsletter/subscribe?email=', k.who().mail, '&source=footer'];
    else if (x < 0.015) path = ['/hooks/ingest?api_key=', k.sv('generic_secret', r.tok(ALNUM, 32))];
    else if (x < 0.017) path = ['/assets/app.', n('hex_digest', r.hex(20)), '.js'];
    else if (x < 0.02) path = ['/v1/orders?since=', n('timestamp'), '&limit=50'];
    else if (x < 0.024) path = ['/static/img/logo@2x.png'];
    else if (x < 0.027) path = ['/v1/users/', n('uuid'), '/avatar'];
    else path = [route(r)];
    d.add(ip(), ' - - [', clf(t), '] "', r.pick(METHODS), ' ', path, ' HTTP/', r.pick(['1.1', '2.0']), '"', tail);
  }
  return d;
}

function ciGithubActionsLog(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 17, 9, 12, 0), 1, 400);
  const L = (...p: Piece[]) => d.add(isoTime(tick(), 7), ' ', ...p, '\n');
  L('Current runner version: \'2.321.0\'');
  L('Operating System');
  L('  Ubuntu');
  L('  24.04.1');
  L('  LTS');
  L('Runner Image');
  L('  Image: ubuntu-24.04');
  L('  Version: ', n('build_number', `2026${r.int(1001, 1128)}.${r.int(1, 200)}.0`));
  L('GITHUB_TOKEN Permissions');
  L('  Contents: read');
  L('  Metadata: read');
  L('  Packages: write');
  L('Secret source: Actions');
  L('Prepare workflow directory');
  L('Prepare all required actions');
  L("Getting action download info");
  L("Download action repository 'actions/checkout@", n('git_sha'), "' (SHA:", n('git_sha'), ')');
  L("Download action repository 'actions/setup-node@", n('git_sha'), "' (SHA:", n('git_sha'), ')');
  L("Download action repository 'docker/build-push-action@", n('git_sha'), "' (SHA:", n('git_sha'), ')');
  L('Complete job name: build-and-deploy');
  L('##[group]Run actions/checkout@v4');
  L('with:');
  L('  repository: acme-corp/billing-service');
  L('  token: ***');
  L('  ssh-strict: true');
  L('##[endgroup]');
  L('Syncing repository: acme-corp/billing-service');
  L('[command]/usr/bin/git init /home/runner/work/billing-service/billing-service');
  L('[command]/usr/bin/git config --local http.https://github.com/.extraheader AUTHORIZATION: basic ***');
  L('[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules --depth=1 origin +', n('git_sha'), ':refs/remotes/origin/main');
  L('From https://github.com/acme-corp/billing-service');
  L(' * [new ref]         ', n('git_sha'), ' -> origin/main');
  L('HEAD is now at ', n('git_sha', r.hex(7)), ' Merge pull request #', r.int(100, 3000), ' from acme-corp/feature/invoices');
  L('##[group]Run actions/setup-node@v4');
  L('with:');
  L('  node-version: 20');
  L('  registry-url: https://registry.npmjs.org');
  L('  always-auth: false');
  L('env:');
  L('  NODE_AUTH_TOKEN: ***');
  L('##[endgroup]');
  L('Found in cache @ /opt/hostedtoolcache/node/20.18.1/x64');
  L('Environment details');
  L('  node: v20.18.1');
  L('  npm: 10.8.2');
  L('  yarn: 1.22.22');
  L('##[group]Run npm ci');
  L('\u001b[36;1mnpm ci\u001b[0m');
  L('shell: /usr/bin/bash -e {0}');
  L('##[endgroup]');
  const pkgs = ['inflight', 'glob', 'rimraf', 'har-validator', 'request', 'uuid', 'querystring', 'sourcemap-codec', 'abab', 'domexception', 'w3c-hr-time', 'stable'];
  for (const p of pkgs) L('npm warn deprecated ', p, '@', n('version_string'), ': This module is not supported, and leaks memory. Do not use it.');
  L('added ', r.int(900, 1600), ' packages, and audited ', r.int(900, 1600), ' packages in ', r.int(10, 60), 's');
  L('found 0 vulnerabilities');
  L('##[group]Run npm config list');
  L('; "user" config from /home/runner/work/_temp/.npmrc');
  L('//registry.npmjs.org/:_authToken = ', n('masked_secret', '(protected)'));
  L('always-auth = false');
  L('##[endgroup]');
  L('##[group]Run npm test -- --reporter=dot');
  const suites = ['invoice totals', 'tax rules', 'currency rounding', 'webhook signatures', 'customer merge', 'refund flow', 'pdf rendering', 'sepa export', 'retry policy', 'idempotency keys'];
  for (let i = 0; i < 720; i++) {
    const sname = r.pick(suites);
    const x = r.next();
    if (x < 0.93) L('  \u001b[32m✓\u001b[39m ', sname, ' › ', r.pick(WORDS), ' ', r.pick(['handles', 'rejects', 'rounds', 'signs', 'merges', 'retries']), ' ', r.pick(WORDS), ' case ', r.int(1, 400), ' \u001b[90m(', r.int(1, 90), ' ms)\u001b[39m');
    else if (x < 0.96) L('    fixture ', r.pick(WORDS), '.json sha256=', n('hex_digest'));
    else if (x < 0.975) L('  ○ skipped ', sname, ' › requires network');
    else if (x < 0.985) L('    seed=', r.int(1, 2 ** 31), ' iterations=', r.int(100, 1000), ' uuid=', n('uuid'));
    else L('  ✓ ', sname, ' › parses IBAN ', n('iban_bad_checksum'), ' as invalid \u001b[90m(', r.int(1, 9), ' ms)\u001b[39m');
  }
  L('Tests: ', r.int(700, 720), ' passed, ', r.int(5, 15), ' skipped, ', r.int(710, 740), ' total');
  L('##[group]Run ./scripts/fetch-deploy-creds.sh');
  L('+ set -x');
  L('++ curl -sf -X POST -H \'Authorization: Bearer ***\' https://api.github.com/app/installations/', r.int(10000000, 99999999), '/access_tokens');
  L('++ jq -r .token');
  L('+ INSTALLATION_TOKEN=', s('github_app_token', 'server'));
  L('+ git remote set-url origin https://x-access-token:', s('github_app_token', 'server', ['basic_auth_url']), '@github.com/acme-corp/infra.git');
  L('++ vault kv get -field=token secret/ci/databricks');
  L('+ DATABRICKS_TOKEN=', s('databricks_token'));
  L('+ echo \'{"type":"service_account","project_id":"acme-ci","private_key":"', S('gcp_service_account', privateKeyPem(r, 'pkcs8').replace(/\n/g, '\\n'), ['private_key']), '\\n","client_email":"', k.sv('email', 'ci@acme-ci.iam.gserviceaccount.com'), '"}\'');
  L('+ gcloud auth activate-service-account --key-file=/tmp/sa.json');
  L('Activated service account credentials for: [', k.sv('email', 'ci@acme-ci.iam.gserviceaccount.com'), ']');
  L('##[endgroup]');
  L('##[group]Run docker/build-push-action@v6');
  for (let i = 1; i <= 140; i++) {
    const x = r.next();
    if (x < 0.3) L('#', i, ' [internal] load metadata for docker.io/library/node:20-alpine');
    else if (x < 0.55) L('#', i, ' ', n('docker_digest'), ' ', (r.next() * 40).toFixed(2), 'MB / ', (r.next() * 40 + 40).toFixed(2), 'MB ', (r.next() * 5).toFixed(1), 's');
    else if (x < 0.75) L('#', i, ' [build ', r.int(2, 9), '/', 9, '] RUN npm run build');
    else if (x < 0.9) L('#', i, ' DONE ', (r.next() * 30).toFixed(1), 's');
    else L('#', i, ' writing image ', n('docker_digest'), ' done');
  }
  L('#', 141, ' pushing layers');
  L('#', 141, ' exporting manifest list ', n('docker_digest'), ' 0.0s done');
  L('#', 141, ' pushing ghcr.io/acme-corp/billing-service:', n('git_sha', r.hex(7)), ' with docker-container');
  L('##[endgroup]');
  L('##[group]Run ./scripts/deploy.sh production');
  L('Deploying ', n('version_string'), ' to production (3 replicas)');
  for (let i = 0; i < 60; i++) L('deployment.apps/billing-api rollout status: ', r.int(0, 3), ' of 3 updated replicas are available... (', r.int(1, 90), 's)');
  L('Notifying Slack: POST ', s('slack_webhook'));
  L('{"ok":true}');
  L('Posting release notes as ', n('reserved_email', 'release-bot@example.com'));
  L('##[endgroup]');
  L('Post job cleanup.');
  L('[command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader');
  L('Cleaning up orphan processes');
  return d;
}

function k8sPodJsonLog(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 17, 11, 0, 0), 20, 4000);
  const line = (level: string, logger: string, msg: (string | Span)[]) => d.add(json({ ts: isoTime(tick()), level, logger, pid: 1, msg: jstr(...msg) }, 0), '\n');
  for (let i = 0; i < 520; i++) {
    const x = r.next();
    if (x < 0.015) {
      line('ERROR', 'sqlalchemy.pool', [`(psycopg2.OperationalError) connection to server failed; DSN postgresql+psycopg2://recommender:`, s('database_url'), '@pg-analytics.internal:5432/reco']);
    } else if (x < 0.025) {
      line('DEBUG', 'huggingface_hub.file_download', ['GET https://huggingface.co/acme/reco-embeddings/resolve/main/model.safetensors headers={"authorization": "Bearer ', s('huggingface_token'), '"}']);
    } else if (x < 0.035) {
      line('INFO', 'app.users', ['profile updated for ', k.who().mail]);
    } else if (x < 0.04) {
      line('DEBUG', 'app.openai', ['client configured with api_key=', s('openai_api_key'), ' base_url=https://api.openai.com/v1']);
    } else if (x < 0.045) {
      line('WARN', 'app.anthropic', ['retrying after 529: x-api-key=', s('anthropic_api_key')]);
    } else if (x < 0.05) {
      line('INFO', 'app.jobs', ['job ', n('uuid'), ' finished digest=', n('hex_digest')]);
    } else {
      line('INFO', 'uvicorn.access', [`${r.int(10, 10)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}:${r.int(30000, 60000)} - "${r.pick(METHODS)} ${route(r)} HTTP/1.1" ${r.pick(STATUSES)}`]);
    }
  }
  return d;
}

function syslogAuth(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 17, 0, 0, 0), 500, 90000);
  const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const stamp = () => {
    const t = new Date(tick());
    return `${MON[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2, ' ')} ${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}:${pad2(t.getUTCSeconds())}`;
  };
  const host = 'bastion-01';
  for (let i = 0; i < 520; i++) {
    const x = r.next();
    const pid = r.int(1000, 99999);
    const ip = `${r.pick([45, 61, 92, 103, 141, 185, 193, 218])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
    if (x < 0.2) d.t`${stamp()} ${host} sshd[${pid}]: Accepted publickey for ${r.pick(['deploy', 'ubuntu', 'ops'])} from ${n('ip_address', ip)} port ${r.int(30000, 65000)} ssh2: ${r.pick(['ED25519', 'RSA', 'ECDSA'])} ${n('ssh_fingerprint')}\n`;
    else if (x < 0.45) d.t`${stamp()} ${host} sshd[${pid}]: Failed password for invalid user ${r.pick(['admin', 'test', 'oracle', 'postgres', 'git', 'pi'])} from ${ip} port ${r.int(30000, 65000)} ssh2\n`;
    else if (x < 0.55) d.t`${stamp()} ${host} sshd[${pid}]: Connection closed by authenticating user root ${ip} port ${r.int(30000, 65000)} [preauth]\n`;
    else if (x < 0.65) d.t`${stamp()} ${host} CRON[${pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)\n`;
    else if (x < 0.7) d.t`${stamp()} ${host} sudo[${pid}]:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart billing-api\n`;
    else if (x < 0.715) d.t`${stamp()} ${host} sudo[${pid}]:   deploy : TTY=pts/1 ; PWD=/srv/backup ; USER=postgres ; COMMAND=/usr/local/bin/pg-backup --host pg-primary --db-password=${s('generic_secret')}\n`;
    else if (x < 0.725) d.t`${stamp()} ${host} systemd[1]: Started session-${r.int(100, 9999)}.scope - Session ${r.int(100, 9999)} of User ${r.pick(['deploy', 'ops'])}.\n`;
    else if (x < 0.73) d.t`${stamp()} ${host} postfix/smtp[${pid}]: ${r.str(HEX.toUpperCase(), 10)}: to=<${k.who().mail}>, relay=smtp.sendgrid.net[${ip}]:587, delay=${(r.next() * 3).toFixed(2)}, status=sent (250 Ok: queued as ${r.tok(ALNUM, 22)})\n`;
    else if (x < 0.8) d.t`${stamp()} ${host} kernel: [${r.int(100000, 9999999)}.${r.digits(6)}] [UFW BLOCK] IN=eth0 OUT= MAC=${n('mac_address')} SRC=${ip} DST=10.0.1.5 LEN=${r.int(40, 60)} TTL=${r.int(40, 250)} PROTO=TCP SPT=${r.int(1000, 65000)} DPT=${r.pick([22, 23, 3389, 5900, 8080])}\n`;
    else d.t`${stamp()} ${host} sshd[${pid}]: Received disconnect from ${ip} port ${r.int(30000, 65000)}:11: Bye Bye [preauth]\n`;
  }
  return d;
}

function paymentServiceLog(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 17, 8, 0, 0), 100, 20000);
  for (let i = 0; i < 420; i++) {
    const ts = isoTime(tick());
    const x = r.next();
    if (x < 0.05) d.t`${ts} payments WARN  raw request logged (PCI!) body={"number":"${s('credit_card', 'none')}","exp_month":${r.int(1, 12)},"exp_year":${r.int(2027, 2031)},"cvc":"${r.digits(3)}"}\n`;
    else if (x < 0.09) d.t`${ts} payments INFO  card accepted ${s('credit_card', 'space')} holder="${r.pick(['José García', 'Zoë Müller', 'Łukasz Nowak', 'Mei Tanaka', 'Liam Walsh'])}"\n`;
    else if (x < 0.14) d.t`${ts} payments INFO  card accepted **** **** **** ${r.digits(4)} bin=${r.digits(6)} fingerprint=${r.tok(ALNUM, 16)}\n`;
    else if (x < 0.19) d.t`${ts} sepa     INFO  credit transfer to ${s('iban')} amount=${r.int(10, 50000)}.${pad2(r.int(0, 99))} EUR ref=INV-${r.int(100000, 999999)}\n`;
    else if (x < 0.22) d.t`${ts} sepa     WARN  rejected IBAN ${n('iban_bad_checksum')} (checksum mismatch)\n`;
    else if (x < 0.25) d.t`${ts} payments WARN  card rejected ${n('card_luhn_invalid')} (luhn)\n`;
    else if (x < 0.3) d.t`${ts} payments INFO  receipt sent to ${k.who().mail}\n`;
    else if (x < 0.32) d.t`${ts} payments INFO  3DS challenge via SMS to ${s('phone')}\n`;
    else if (x < 0.322) d.t`${ts} payments DEBUG test mode card ${n('documented_example', r.pick(['4242 4242 4242 4242', '4000 0566 5566 5556', '5555 5555 5555 4444']))} used in sandbox\n`;
    else if (x < 0.38) d.t`${ts} payments INFO  payout batch ${n('uuid')} total=${r.int(1000, 900000)} ts=${n('timestamp')}\n`;
    else d.t`${ts} payments INFO  intent pi_${r.tok(ALNUM, 24)} status=${r.pick(['succeeded', 'requires_action', 'processing', 'canceled'])} amount=${r.int(100, 99999)} latency=${ms(r)}ms\n`;
  }
  return d;
}

function pythonTraceback(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`$ pytest -x --showlocals tests/integration/test_sync.py
============================= test session starts ==============================
platform linux -- Python 3.12.7, pytest-8.3.3, pluggy-1.5.0
rootdir: /home/dev/src/acme-sync
configfile: pyproject.toml
plugins: anyio-4.6.2, cov-6.0.0
collected 14 items

tests/integration/test_sync.py ...F

=================================== FAILURES ===================================
___________________________ test_sync_contacts_batch ___________________________

client = <acme_sync.client.Client object at 0x7f${r.hex(10)}>
settings = Settings(api_base='https://api.acme-corp.io', anthropic_api_key='${s('anthropic_api_key')}', database_url='postgresql://sync:${s('database_url')}@localhost:5432/sync_test', batch_size=200)

    def test_sync_contacts_batch(client, settings):
        contacts = load_fixture("contacts.json")
>       result = client.sync(contacts, api_key=settings.anthropic_api_key)

api_key    = '${s('anthropic_api_key')}'
contacts   = [{'email': '${k.who().mail}', 'name': 'Ana Rossi', 'phone': '${s('phone')}'}, {'email': '${n('reserved_email')}', 'name': 'Test User', 'phone': None}]
headers    = {'Authorization': 'Bearer ${s('jwt')}', 'X-Request-Id': '${n('uuid')}'}

tests/integration/test_sync.py:48:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

self = <acme_sync.client.Client object at 0x7f${r.hex(10)}>, contacts = [...]

    def sync(self, contacts, api_key):
        resp = self._session.post(f"{self.base}/v2/contacts:batch", json=contacts)
>       resp.raise_for_status()
E       requests.exceptions.HTTPError: 422 Client Error: Unprocessable Entity for url: https://api.acme-corp.io/v2/contacts:batch

acme_sync/client.py:77: HTTPError
----------------------------- Captured log call --------------------------------
DEBUG    urllib3.connectionpool:connectionpool.py:546 https://api.acme-corp.io:443 "POST /v2/contacts:batch HTTP/1.1" 422 187
=========================== short test summary info ============================
FAILED tests/integration/test_sync.py::test_sync_contacts_batch - requests.exceptions.HTTPError: 422
!!!!!!!!!!!!!!!!!!!!!!!!!! stopping after 1 failures !!!!!!!!!!!!!!!!!!!!!!!!!!!
========================= 1 failed, 3 passed in 4.18s ==========================

$ python manage.py diffsettings --all | grep -iE 'secret|key|pass|token'
SECRET_KEY = '${n('masked_secret', '********************')}'
AWS_SECRET_ACCESS_KEY = '${n('masked_secret', '********************')}'
EMAIL_HOST_PASSWORD = '${n('masked_secret', '********************')}'
PASSWORD_HASHERS = ['django.contrib.auth.hashers.Argon2PasswordHasher', 'django.contrib.auth.hashers.PBKDF2PasswordHasher']
PASSWORD_RESET_TIMEOUT = 259200
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_AGE = 1209600
`;
  return d;
}

function auditEventsJsonl(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  const tick = clock(r, Date.UTC(2026, 10, 16, 0, 0, 0), 1000, 200000);
  const ACTIONS = ['user.login', 'user.logout', 'repo.clone', 'repo.push', 'token.create', 'token.revoke', 'org.member.add', 'billing.update', 'sso.assert'];
  for (let i = 0; i < 600; i++) {
    const x = r.next();
    const actor: JVal = x < 0.04 ? k.who().mail : r.pick(['svc-deploy', 'github-actions[bot]', 'renovate[bot]', 'sa:indexer']);
    const ev: JVal = {
      id: r.uuid(),
      at: isoTime(tick()),
      action: r.pick(ACTIONS),
      actor,
      ip: `${r.pick([81, 93, 185, 212])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`,
      ua: r.pick(USER_AGENTS),
      resource: `repo:acme-corp/${r.pick(WORDS)}-${r.pick(WORDS)}`,
      meta: x > 0.97 ? { token_fingerprint: n('hex_digest', r.hex(16)), token_last_eight: n('masked_secret', `…${r.tok(ALNUM, 8)}`) } : { sha: n('git_sha'), result: r.pick(['ok', 'ok', 'ok', 'denied']) },
    };
    d.add(json(ev, 0), '\n');
  }
  return d;
}

// --------------------------------------------------------------------------- curl -v

function tlsPreamble(r: Rng, host: string, ip: string, issuer: string): string {
  return `*   Trying ${ip}:443...
* Connected to ${host} (${ip}) port 443
* ALPN: curl offers h2,http/1.1
* TLSv1.3 (OUT), TLS handshake, Client hello (1):
*  CAfile: /etc/ssl/certs/ca-certificates.crt
*  CApath: /etc/ssl/certs
* TLSv1.3 (IN), TLS handshake, Server hello (2):
* TLSv1.3 (IN), TLS handshake, Encrypted Extensions (8):
* TLSv1.3 (IN), TLS handshake, Certificate (11):
* TLSv1.3 (IN), TLS handshake, CERT verify (15):
* TLSv1.3 (IN), TLS handshake, Finished (20):
* TLSv1.3 (OUT), TLS change cipher, Change cipher spec (1):
* TLSv1.3 (OUT), TLS handshake, Finished (20):
* SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384 / X25519 / id-ecdsa-with-SHA256
* ALPN: server accepted h2
* Server certificate:
*  subject: CN=${host}
*  start date: Oct ${r.int(1, 28)} 00:00:00 2026 GMT
*  expire date: Jan ${r.int(1, 28)} 23:59:59 2027 GMT
*  subjectAltName: host "${host}" matched cert's "${host}"
*  issuer: ${issuer}
*  SSL certificate verify ok.
*   Certificate level 0: Public key type EC/prime256v1 (256/128 Bits/secBits), signed using ecdsa-with-SHA256
*   Certificate level 1: Public key type EC/secp384r1 (384/192 Bits/secBits), signed using sha384WithRSAEncryption
* using HTTP/2
`;
}

function curlOpenAi(k: Kit): Doc {
  const { r, s, n } = k;
  const key = s('openai_api_key', 'proj');
  const key2 = k.sv('openai_api_key', key.text);
  const d = new Doc();
  d.t`$ curl -v https://api.openai.com/v1/chat/completions -H "Content-Type: application/json" -H "Authorization: Bearer ${key}" -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"ping"}]}'
Note: Unnecessary use of -X or --request, POST is already inferred.
${tlsPreamble(r, 'api.openai.com', '162.159.140.245', 'C=US; O=Google Trust Services; CN=WE1')}* [HTTP/2] [1] OPENED stream for https://api.openai.com/v1/chat/completions
* [HTTP/2] [1] [:method: POST]
* [HTTP/2] [1] [:scheme: https]
* [HTTP/2] [1] [:authority: api.openai.com]
* [HTTP/2] [1] [:path: /v1/chat/completions]
* [HTTP/2] [1] [user-agent: curl/8.5.0]
* [HTTP/2] [1] [accept: */*]
* [HTTP/2] [1] [content-type: application/json]
* [HTTP/2] [1] [authorization: Bearer ${key2}]
> POST /v1/chat/completions HTTP/2
> Host: api.openai.com
> User-Agent: curl/8.5.0
> Accept: */*
> Content-Type: application/json
> Authorization: Bearer ${k.sv('openai_api_key', key.text)}
> Content-Length: 71
>
< HTTP/2 200
< date: Tue, 17 Nov 2026 10:14:${pad2(r.int(0, 59))} GMT
< content-type: application/json
< access-control-expose-headers: X-Request-ID
< openai-organization: org-${r.tok(ALNUM, 24)}
< openai-processing-ms: ${r.int(200, 900)}
< openai-version: 2020-10-01
< x-ratelimit-limit-requests: 10000
< x-ratelimit-remaining-tokens: 199${r.digits(3)}
< x-request-id: req_${n('hex_digest', r.hex(32))}
< strict-transport-security: max-age=31536000; includeSubDomains; preload
< cf-cache-status: DYNAMIC
< set-cookie: __cf_bm=${r.tok(B64URL, 43)}-${r.int(1700000000, 1800000000)}-1.0.1.1-${r.tok(B64URL, 40)}; path=/; expires=Tue, 17-Nov-26 10:44:00 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None
< cf-ray: ${r.hex(16)}-FRA
<
{
  "id": "chatcmpl-${r.tok(ALNUM, 29)}",
  "object": "chat.completion",
  "created": ${n('timestamp')},
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}],
  "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10},
  "system_fingerprint": "fp_${r.hex(10)}"
}
* Connection #0 to host api.openai.com left intact
`;
  return d;
}

function curlAnthropic(k: Kit): Doc {
  const { r, s, n } = k;
  const key = s('anthropic_api_key');
  const d = new Doc();
  d.t`$ curl -sv https://api.anthropic.com/v1/messages \\
     --header "x-api-key: ${key}" \\
     --header "anthropic-version: 2023-06-01" \\
     --header "content-type: application/json" \\
     --data '{"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hello"}]}'
${tlsPreamble(r, 'api.anthropic.com', '160.79.104.10', 'C=US; O=Google Trust Services; CN=WE1')}* [HTTP/2] [1] OPENED stream for https://api.anthropic.com/v1/messages
* [HTTP/2] [1] [:method: POST]
* [HTTP/2] [1] [x-api-key: ${k.sv('anthropic_api_key', key.text)}]
> POST /v1/messages HTTP/2
> Host: api.anthropic.com
> User-Agent: curl/8.5.0
> Accept: */*
> x-api-key: ${k.sv('anthropic_api_key', key.text)}
> anthropic-version: 2023-06-01
> content-type: application/json
> Content-Length: 103
>
< HTTP/2 200
< date: Tue, 17 Nov 2026 10:20:${pad2(r.int(0, 59))} GMT
< content-type: application/json
< request-id: req_011C${r.tok(ALNUM, 20)}
< anthropic-organization-id: ${n('uuid')}
< anthropic-ratelimit-requests-remaining: 49
< via: 1.1 google
< cf-ray: ${r.hex(16)}-AMS
<
{"id":"msg_01${r.tok(ALNUM, 22)}","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello! How can I help you today?"}],"stop_reason":"end_turn","usage":{"input_tokens":8,"output_tokens":12}}
* Connection #0 to host api.anthropic.com left intact
`;
  return d;
}

function curlStripe(k: Kit): Doc {
  const { r, s, n } = k;
  const key = s('stripe_key', 'live');
  const p = k.who();
  const d = new Doc();
  d.t`$ curl -v https://api.stripe.com/v1/customers/${n('public_id')} -H "Authorization: Bearer ${key}"
${tlsPreamble(r, 'api.stripe.com', '34.200.27.109', 'C=US; O=DigiCert Inc; CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1')}> GET /v1/customers/cus_… HTTP/2
> Host: api.stripe.com
> user-agent: curl/8.5.0
> accept: */*
> authorization: Bearer ${k.sv('stripe_key', key.text)}
>
< HTTP/2 200
< server: nginx
< content-type: application/json
< request-id: req_${r.tok(ALNUM, 14)}
< stripe-version: 2024-06-20
< idempotency-key: ${n('uuid')}
<
{
  "id": "${n('public_id')}",
  "object": "customer",
  "address": {"city": "Lyon", "country": "FR", "line1": "12 rue de la République", "postal_code": "69002"},
  "balance": 0,
  "created": ${n('timestamp')},
  "currency": "eur",
  "email": "${p.mail}",
  "invoice_prefix": "${r.str('ABCDEF0123456789', 8)}",
  "livemode": true,
  "name": "${p.first} ${p.last}",
  "phone": "${s('phone')}",
  "preferred_locales": ["fr-FR"],
  "default_source": "card_${r.tok(ALNUM, 24)}",
  "sources": {"data": [{"brand": "Visa", "last4": "${r.digits(4)}", "exp_month": ${r.int(1, 12)}, "exp_year": ${r.int(2027, 2031)}, "fingerprint": "${r.tok(ALNUM, 16)}"}]}
}
* Connection #0 to host api.stripe.com left intact
`;
  return d;
}

function curlGithub(k: Kit): Doc {
  const { r, s, n } = k;
  const tok = s('github_pat_classic');
  const p = k.who();
  const d = new Doc();
  d.t`$ curl -v -H "Authorization: token ${tok}" https://api.github.com/user
${tlsPreamble(r, 'api.github.com', '140.82.121.6', 'C=GB; ST=Greater Manchester; L=Salford; O=Sectigo Limited; CN=Sectigo ECC Domain Validation Secure Server CA')}> GET /user HTTP/2
> Host: api.github.com
> User-Agent: curl/8.5.0
> Accept: */*
> Authorization: token ${k.sv('github_pat_classic', tok.text)}
>
< HTTP/2 200
< date: Tue, 17 Nov 2026 10:31:${pad2(r.int(0, 59))} GMT
< content-type: application/json; charset=utf-8
< cache-control: private, max-age=60, s-maxage=60
< etag: W/"${n('hex_digest')}"
< last-modified: Mon, 16 Nov 2026 18:02:11 GMT
< x-oauth-scopes: repo, read:org, workflow
< x-accepted-oauth-scopes:
< github-authentication-token-expiration: 2027-02-15 00:00:00 UTC
< x-github-media-type: github.v3; format=json
< x-github-api-version-selected: 2022-11-28
< x-ratelimit-limit: 5000
< x-ratelimit-remaining: 4987
< x-ratelimit-reset: ${n('timestamp')}
< x-github-request-id: ${r.str('0123456789ABCDEF', 4)}:${r.str('0123456789ABCDEF', 6)}:${r.str('0123456789ABCDEF', 7)}:${r.str('0123456789ABCDEF', 7)}:${r.str('0123456789ABCDEF', 8)}
<
{
  "login": "${p.first.toLowerCase().replace(/[^a-z]/g, '')}-dev",
  "id": ${r.int(1000000, 99999999)},
  "node_id": "MDQ6VXNlcj${r.tok(ALNUM, 10)}",
  "avatar_url": "https://avatars.githubusercontent.com/u/${r.int(1000000, 99999999)}?v=4",
  "gravatar_id": "",
  "type": "User",
  "name": "${p.first} ${p.last}",
  "company": "@acme-corp",
  "email": "${p.mail}",
  "bio": "Platform engineer. Opinions my own.",
  "public_repos": ${r.int(3, 90)},
  "created_at": "2014-03-0${r.int(1, 9)}T11:22:33Z",
  "two_factor_authentication": true,
  "plan": {"name": "pro", "space": 976562499, "private_repos": 9999}
}
* Connection #0 to host api.github.com left intact
$ git ls-remote https://github.com/acme-corp/infra.git HEAD
${n('git_sha')}	HEAD
`;
  return d;
}

function curlMisc(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`$ set -x; ./scripts/smoke-apis.sh
+ curl -sS -X POST https://api.sendgrid.com/v3/mail/send -H 'Authorization: Bearer ${s('sendgrid_api_key')}' -H 'Content-Type: application/json' -d @mail.json
{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}
+ curl -sS -u 'api:${s('mailgun_api_key')}' https://api.mailgun.net/v3/mg.acme-corp.io/messages -F from='Ops <${k.s('email')}>' -F to=${k.s('email')} -F subject=smoke -F text=ok
{"id":"<${n('not_an_email', `${r.digits(14)}.${r.digits(16)}@mg.acme-corp.io`)}>","message":"Queued. Thank you."}
+ curl -sS https://adb-${r.digits(16)}.${r.int(1, 19)}.azuredatabricks.net/api/2.0/clusters/list -H 'Authorization: Bearer ${s('databricks_token')}'
{"clusters":[{"cluster_id":"${r.digits(4)}-${r.digits(6)}-${r.str('abcdefghijklmnopqrstuvwxyz0123456789', 8)}","cluster_name":"etl-nightly","state":"TERMINATED"}]}
+ curl -sS https://huggingface.co/api/whoami-v2 -H 'Authorization: Bearer ${s('huggingface_token')}'
{"type":"user","id":"${r.hex(24)}","name":"acme-ml","fullname":"Acme ML","email":"${k.s('email')}","emailVerified":true,"auth":{"type":"access_token","accessToken":{"displayName":"ci-read","role":"read"}}}
+ curl -sS -X GET https://api.digitalocean.com/v2/droplets?per_page=1 -H 'Authorization: Bearer ${s('digitalocean_token')}'
{"droplets":[{"id":${r.int(100000000, 999999999)},"name":"edge-ams3-01","memory":2048,"vcpus":2,"status":"active","networks":{"v4":[{"ip_address":"${n('ip_address')}","type":"public"}]}}],"meta":{"total":7}}
+ curl -sS https://connect.squareup.com/v2/locations -H 'Square-Version: 2024-10-17' -H 'Authorization: Bearer ${s('square_token', 'access')}'
{"locations":[{"id":"L${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 12)}","name":"Acme Café Berlin","address":{"address_line_1":"Torstraße 1","locality":"Berlin"},"status":"ACTIVE"}]}
+ curl -sS https://api.heroku.com/apps -H 'Accept: application/vnd.heroku+json; version=3' -H 'Authorization: Bearer ${s('heroku_api_key')}'
[{"id":"${n('uuid')}","name":"acme-legacy-admin","region":{"name":"eu"},"stack":{"name":"heroku-24"}}]
+ curl -sS https://app.daytona.io/api/sandbox -H 'Authorization: Bearer ${s('daytona_api_key')}'
[{"id":"${n('uuid')}","state":"started","target":"eu","cpu":2,"memory":4}]
+ curl -sS -o /dev/null -w '%{http_code}\\n' https://deploy:${s('basic_auth_url')}@artifacts.acme-corp.io/repository/releases/
200
+ curl -sS -o /dev/null -w '%{http_code}\\n' ftp://backup:${s('basic_auth_url')}@ftp.acme-corp.io/nightly/
226
+ curl -sS https://gitlab.com/api/v4/projects/${r.int(1000000, 99999999)}/pipelines -H 'PRIVATE-TOKEN: ${s('gitlab_token')}'
[{"id":${r.int(1000000000, 1999999999)},"sha":"${n('git_sha')}","ref":"main","status":"success"}]
+ curl -sS https://api.twilio.com/2010-04-01/Accounts/${n('public_id', `AC${r.hex(32)}`)}/Messages.json -u '${s('twilio_api_key')}:'"${n('env_reference', '$TWILIO_API_SECRET')}"
{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
+ set +x
`;
  return d;
}

// --------------------------------------------------------------------------- API responses

function githubInstallationToken(k: Kit): Doc {
  const { s } = k;
  const d = new Doc();
  d.add(
    json({
      token: s('github_app_token', 'server'),
      expires_at: '2026-11-17T10:41:12Z',
      permissions: { contents: 'read', metadata: 'read', pull_requests: 'write', checks: 'write' },
      repository_selection: 'selected',
      repositories: [{ id: k.r.int(100000000, 999999999), name: 'billing-service', full_name: 'acme-corp/billing-service', private: true }],
    }),
    '\n',
  );
  return d;
}

function oauthTokenResponses(k: Kit): Doc {
  const { r, s } = k;
  const d = new Doc();
  d.add('# POST https://github.com/login/oauth/access_token (device flow)\n');
  d.add(json({ access_token: s('github_oauth'), token_type: 'bearer', scope: 'repo,gist,read:org', refresh_token: s('github_refresh_token'), expires_in: 28800, refresh_token_expires_in: 15811200 }), '\n\n');
  d.add('# POST https://github.com/login/oauth/access_token (GitHub App user-to-server)\n');
  d.add(json({ access_token: s('github_app_token', 'user'), expires_in: 28800, refresh_token: s('github_refresh_token'), refresh_token_expires_in: 15724800, scope: '', token_type: 'bearer' }), '\n\n');
  d.add('# POST https://auth.acme-corp.io/oauth/token (OIDC, authorization_code)\n');
  d.add(json({ access_token: s('jwt'), id_token: S('jwt', makeJwt(r, { iss: 'https://auth.acme-corp.io/', sub: r.uuid(), aud: 'web', email_verified: true, iat: 1773100000, exp: 1773103600 }, 'RS256')), refresh_token: s('generic_secret'), token_type: 'Bearer', expires_in: 3600, scope: 'openid profile email offline_access' }), '\n\n');
  d.add('# POST https://gitlab.com/oauth/token\n');
  d.add(json({ access_token: k.s('generic_secret'), token_type: 'Bearer', expires_in: 7200, refresh_token: k.s('generic_secret'), scope: 'api', created_at: 1773100000 + r.int(0, 99999) }), '\n');
  return d;
}

function slackOauth(k: Kit): Doc {
  const { r, s } = k;
  const team = `T${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`;
  const d = new Doc();
  d.add(
    json({
      ok: true,
      app_id: `A${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`,
      authed_user: { id: `U${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`, scope: 'chat:write,users:read', access_token: s('slack_user_token'), token_type: 'user' },
      scope: 'commands,chat:write,channels:history,users:read.email',
      token_type: 'bot',
      access_token: s('slack_bot_token'),
      bot_user_id: `U${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`,
      team: { id: team, name: 'Acme Corp' },
      enterprise: null,
      is_enterprise_install: false,
      incoming_webhook: { channel: '#deploys', channel_id: `C${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`, configuration_url: `https://acme-corp.slack.com/services/B${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`, url: s('slack_webhook') },
    }),
    '\n',
  );
  d.add('\n# apps.connections.open with the app-level token\n');
  d.t`POST https://slack.com/api/apps.connections.open  Authorization: Bearer ${s('slack_app_token')}\n`;
  d.add(json({ ok: true, url: `wss://wss-primary.slack.com/link/?ticket=${r.uuid()}&app_id=${r.hex(64)}` }), '\n');
  d.add('\n# users.info\n');
  const p = k.who();
  d.add(json({ ok: true, user: { id: `U${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}`, team_id: team, name: p.first.toLowerCase(), real_name: `${p.first} ${p.last}`, tz: 'Europe/Berlin', profile: { email: p.mail, phone: s('phone'), image_72: `https://avatars.slack-edge.com/2026-01-01/${r.digits(13)}_${r.hex(20)}_72.png`, status_emoji: ':palm_tree:', color: k.n('hex_color', r.str(HEX, 6)) } } }), '\n');
  return d;
}

function usersList(k: Kit): Doc {
  const { r, s, n } = k;
  const users: JVal[] = [];
  for (let i = 0; i < 20; i++) {
    const p = k.who();
    users.push({
      id: n('uuid'),
      name: `${p.first} ${p.last}`,
      email: p.mail,
      phone: r.chance(0.6) ? s('phone') : null,
      avatar_url: jstr('https://www.gravatar.com/avatar/', n('hex_digest', r.hex(32)), '?d=identicon'),
      role: r.pick(['member', 'member', 'admin', 'billing']),
      created_at: isoTime(Date.UTC(2023, 0, 1) + r.int(0, 900) * 86400000),
      last_login_ip: n('ip_address'),
      locale: r.pick(['en-US', 'de-DE', 'fr-FR', 'ja-JP', 'pt-BR']),
      theme_color: n('hex_color'),
    });
  }
  const d = new Doc();
  d.add(json({ data: users, page: 1, per_page: 20, total: 20 * 7, next_cursor: n('base64_blob') }), '\n');
  return d;
}

function stripeEvents(k: Kit): Doc {
  const { r, s, n } = k;
  const events: JVal[] = [];
  for (let i = 0; i < 18; i++) {
    const p = k.who();
    const created = 1773000000 + r.int(0, 9_000_000);
    if (r.chance(0.5)) {
      events.push({ id: `evt_${r.tok(ALNUM, 24)}`, object: 'event', type: 'customer.created', created, livemode: true, data: { object: { id: n('public_id'), email: p.mail, name: `${p.first} ${p.last}`, phone: r.chance(0.5) ? s('phone') : null, currency: 'eur' } } });
    } else {
      events.push({
        id: `evt_${r.tok(ALNUM, 24)}`,
        object: 'event',
        type: 'charge.succeeded',
        created,
        livemode: true,
        data: {
          object: {
            id: `ch_${r.tok(ALNUM, 24)}`,
            amount: r.int(100, 99999),
            billing_details: { email: p.mail, name: `${p.first} ${p.last}`, phone: null },
            payment_method_details: { type: 'card', card: { brand: 'visa', last4: r.digits(4), exp_month: r.int(1, 12), exp_year: r.int(2027, 2031), fingerprint: r.tok(ALNUM, 16), network: 'visa' } },
            receipt_url: `https://pay.stripe.com/receipts/payment/${r.tok(B64URL, 60)}`,
            balance_transaction: `txn_${r.tok(ALNUM, 24)}`,
          },
        },
      });
    }
  }
  const d = new Doc();
  d.add(json({ object: 'list', data: events, has_more: true, url: '/v1/events' }), '\n');
  return d;
}

function hrEmployees(k: Kit): Doc {
  const { r, s, n } = k;
  const rows: JVal[] = [];
  for (let i = 0; i < 20; i++) {
    const p = k.who();
    rows.push({
      employee_id: `E${r.digits(6)}`,
      name: `${p.first} ${p.last}`,
      work_email: p.mail,
      ssn: i % 11 === 5 ? s('us_ssn', 'undashed') : s('us_ssn'),
      date_of_birth: `19${r.int(60, 99)}-${pad2(r.int(1, 12))}-${pad2(r.int(1, 28))}`,
      phone: s('phone'),
      payroll: { iban: s('iban'), currency: 'EUR', salary_band: r.pick(['L3', 'L4', 'L5', 'M1']) },
      badge_id: n('uuid'),
    });
  }
  rows.push({ employee_id: 'E000000', name: 'Test Employee', work_email: n('reserved_email', 'test.employee@example.com'), ssn: n('ssn_invalid', '123-45-6789'), date_of_birth: '1970-01-01', phone: null, payroll: { iban: n('documented_example', 'DE89370400440532013000'), currency: 'EUR', salary_band: 'L0' }, badge_id: n('uuid') });
  const d = new Doc();
  d.add(json({ employees: rows, exported_at: '2026-11-17T06:00:00Z', exported_by: 'hris-sync' }), '\n');
  return d;
}

function awsSts(k: Kit): Doc {
  const { r, s, n } = k;
  const acct = r.digits(12);
  const d = new Doc();
  d.add('$ aws sts assume-role --role-arn arn:aws:iam::', acct, ':role/deploy --role-session-name ci-', String(r.int(1000, 9999)), '\n');
  d.add(
    json(
      {
        Credentials: {
          AccessKeyId: s('aws_access_key_id', 'session'),
          SecretAccessKey: s('aws_secret_access_key'),
          SessionToken: k.sv('generic_secret', `IQoJb3JpZ2luX2Vj${r.bytes(420).toString('base64')}`),
          Expiration: '2026-11-17T11:14:08+00:00',
        },
        AssumedRoleUser: { AssumedRoleId: `AROA${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 17)}:ci-${r.int(1000, 9999)}`, Arn: `arn:aws:sts::${acct}:assumed-role/deploy/ci` },
      },
      4,
    ),
    '\n$ aws iam create-access-key --user-name svc-backup\n',
  );
  d.add(json({ AccessKey: { UserName: 'svc-backup', AccessKeyId: s('aws_access_key_id'), Status: 'Active', SecretAccessKey: s('aws_secret_access_key'), CreateDate: '2026-11-17T10:14:08+00:00' } }, 4), '\n');
  d.add('$ aws sts get-caller-identity\n', json({ UserId: `AIDA${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 17)}`, Account: n('public_id', acct), Arn: `arn:aws:iam::${acct}:user/svc-backup` }, 4), '\n');
  return d;
}

function tokensAdmin(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const block = (title: string, v: JVal) => d.add(`### ${title}\n`, json(v, 2), '\n\n');
  block('POST https://hub.docker.com/v2/access-tokens', { uuid: n('uuid'), client_id: 'HUB', creator_ip: n('ip_address'), creator_ua: 'python-requests/2.32.3', created_at: '2026-11-17T10:20:00Z', last_used: null, generated_by: 'manual', is_active: true, token: s('dockerhub_token'), token_label: 'ci-push', scopes: ['repo:write'] });
  block('npm token create --json', { token: s('npm_token'), key: n('hex_digest', r.hex(128)), cidr_whitelist: [], readonly: false, automation: true, created: '2026-11-17T10:21:00.000Z' });
  block('POST /api/2.0/token/create (Databricks)', { token_value: s('databricks_token'), token_info: { token_id: n('hex_digest'), creation_time: 1773100000000 + r.int(0, 9999999), expiry_time: -1, comment: 'airflow' } });
  block('POST https://api.digitalocean.com/v2/tokens', { token: { id: r.int(1000000, 9999999), name: 'terraform', scopes: ['droplet:create', 'droplet:read'], created_at: '2026-11-17T10:22:00Z', access_token: s('digitalocean_token'), expiry_seconds: 7776000 } });
  block('POST https://app.daytona.io/api/api-keys', { name: 'agent-runner', value: s('daytona_api_key'), createdAt: '2026-11-17T10:23:00.000Z', permissions: ['write:sandboxes', 'delete:sandboxes'] });
  block('POST https://gitlab.com/api/v4/users/:id/personal_access_tokens', { id: r.int(1000000, 9999999), name: 'renovate', revoked: false, created_at: '2026-11-17T10:24:00.000Z', scopes: ['api', 'read_repository'], user_id: r.int(100000, 9999999), active: true, expires_at: '2027-11-17', token: s('gitlab_token') });
  block('heroku authorizations:create --json', { id: n('uuid'), description: 'ci', scope: ['global'], access_token: { expires_in: null, id: n('uuid'), token: s('heroku_api_key') }, created_at: '2026-11-17T10:25:00Z' });
  block('POST https://{shop}.myshopify.com/admin/oauth/access_token', { access_token: s('shopify_token'), scope: 'read_products,write_orders' });
  block('POST https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Keys.json', { sid: s('twilio_api_key'), friendly_name: 'notifier', secret: s('generic_secret'), date_created: 'Tue, 17 Nov 2026 10:26:00 +0000' });
  block('POST https://connect.squareup.com/oauth2/token', { access_token: s('square_token', 'access'), token_type: 'bearer', expires_at: '2026-12-17T10:27:00Z', merchant_id: `ML${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 12)}`, refresh_token: k.sv('generic_secret', `EQAAE${r.tok(B64URL, 59)}`) });
  block('GET https://api.anthropic.com/v1/organizations/api_keys (admin API; keys are never returned)', { data: [{ id: `apikey_01${r.tok(ALNUM, 22)}`, name: 'ci', partial_key_hint: n('masked_secret', `sk-ant-api03-R2D...${r.tok(ALNUM, 3)}AA`), status: 'active' }] });
  return d;
}

function secretsManager(k: Kit): Doc {
  const { r, s, n } = k;
  const inner: JVal = {
    github_pat: s('github_pat_fine_grained'),
    github_app_id: String(r.int(100000, 999999)),
    github_app_private_key: S('private_key', privateKeyPem(r, 'rsa')),
    github_refresh_token: s('github_refresh_token'),
    slack_user_token: s('slack_user_token'),
    slack_app_token: s('slack_app_token'),
    npm_token: s('npm_token'),
    dockerhub_token: s('dockerhub_token'),
    gcp: { type: 'service_account', project_id: 'acme-int', private_key: jstr(S('gcp_service_account', privateKeyPem(r, 'pkcs8'), ['private_key']), '\n'), client_email: k.sv('email', 'int@acme-int.iam.gserviceaccount.com') },
    pagerduty_routing_key: n('hex_digest', r.hex(32)),
  };
  const d = new Doc();
  d.add('$ aws secretsmanager get-secret-value --secret-id prod/integrations\n');
  d.add(
    json(
      {
        ARN: n('public_id', `arn:aws:secretsmanager:eu-west-1:${r.digits(12)}:secret:prod/integrations-${r.tok(ALNUM, 6)}`),
        Name: 'prod/integrations',
        VersionId: n('uuid'),
        SecretString: jstr(...(json(inner, 0) as (string | Span)[])),
        VersionStages: ['AWSCURRENT'],
        CreatedDate: '2026-10-02T09:12:44.512000+00:00',
      },
      4,
    ),
    '\n',
  );
  return d;
}

export const LOG_DOCS: readonly DocSpec[] = [
  { path: 'api/secretsmanager-get-secret-value.json', context: 'AWS CLI: a secret whose value is JSON (tokens, a PEM escaped twice)', build: secretsManager },
  { path: 'logs/app-server.log.txt', context: 'application log (text): requests, auth, outbound calls, errors', build: appServerLog },
  { path: 'logs/nginx-access.log.txt', context: 'nginx access log (combined + timings), tokens in query strings', build: nginxAccessLog },
  { path: 'logs/ci-github-actions.log.txt', context: 'CI job log (GitHub Actions): masked *** secrets, set -x leaks', build: ciGithubActionsLog },
  { path: 'logs/k8s-pod.jsonl', context: 'JSON-lines log of a Kubernetes pod (Python service)', build: k8sPodJsonLog },
  { path: 'logs/auth-syslog.txt', context: 'syslog auth.log: sshd, sudo, postfix, UFW', build: syslogAuth },
  { path: 'logs/payment-service.log.txt', context: 'payment service log: PANs, IBANs, masked cards', build: paymentServiceLog },
  { path: 'logs/pytest-showlocals.txt', context: 'pytest --showlocals failure and Django settings (masked)', build: pythonTraceback },
  { path: 'logs/audit-events.jsonl', context: 'JSON-lines audit events', build: auditEventsJsonl },
  { path: 'curl/openai-chat.txt', context: '`curl -v` to the OpenAI API', build: curlOpenAi },
  { path: 'curl/anthropic-messages.txt', context: '`curl -v` to the Anthropic API', build: curlAnthropic },
  { path: 'curl/stripe-customer.txt', context: '`curl -v` to the Stripe API, customer JSON', build: curlStripe },
  { path: 'curl/github-user.txt', context: '`curl -v` to the GitHub API', build: curlGithub },
  { path: 'curl/smoke-apis-set-x.txt', context: 'shell `set -x` trace of curl calls to many APIs', build: curlMisc },
  { path: 'api/github-installation-token.json', context: 'JSON API response: GitHub App installation token', build: githubInstallationToken },
  { path: 'api/oauth-token-responses.txt', context: 'JSON API responses: OAuth token endpoints', build: oauthTokenResponses },
  { path: 'api/slack-oauth.txt', context: 'JSON API responses: Slack oauth.v2.access, apps.connections.open, users.info', build: slackOauth },
  { path: 'api/users-list.json', context: 'JSON API response: user directory page', build: usersList },
  { path: 'api/stripe-events.json', context: 'JSON API response: Stripe events list', build: stripeEvents },
  { path: 'api/hr-employees.json', context: 'JSON API response: HR export (SSNs, IBANs)', build: hrEmployees },
  { path: 'api/aws-sts-iam.txt', context: 'AWS CLI JSON output: sts assume-role, iam create-access-key', build: awsSts },
  { path: 'api/token-create-responses.txt', context: 'JSON API responses: creating tokens on many services', build: tokensAdmin },
];

