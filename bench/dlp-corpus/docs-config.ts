// Corpus documents: environment dumps, .env files, configuration files.
import { Doc, PFX, jstr, json, privateKeyPem, S, type JVal } from './gen.js';
import { envLines, type Kit } from './kit.js';
import type { DocSpec } from './index.js';

const LS_COLORS =
  'rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:cd=40;33;01:or=40;31;01:mi=00:su=37;41:sg=30;43:ca=00:tw=30;42:ow=34;42:st=37;44:ex=01;32:*.tar=01;31:*.tgz=01;31:*.zip=01;31:*.gz=01;31:*.bz2=01;31:*.xz=01;31:*.zst=01;31:*.jpg=01;35:*.jpeg=01;35:*.png=01;35:*.gif=01;35:*.svg=01;35:*.mp4=01;35:*.mkv=01;35:*.flac=00;36:*.mp3=00;36:*.ogg=00;36:*.wav=00;36';

function printenvCi(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  envLines(d, [
    ['SELENIUM_JAR_PATH', '/usr/share/java/selenium-server.jar'],
    ['CONDA', '/usr/share/miniconda'],
    ['GITHUB_WORKSPACE', '/home/runner/work/billing-service/billing-service'],
    ['JAVA_HOME_11_X64', '/usr/lib/jvm/temurin-11-jdk-amd64'],
    ['GITHUB_PATH', '/home/runner/work/_temp/_runner_file_commands/add_path_' + r.uuid()],
    ['GITHUB_ACTION', '__run_3'],
    ['JAVA_HOME', '/usr/lib/jvm/temurin-17-jdk-amd64'],
    ['GITHUB_RUN_NUMBER', String(r.int(1000, 4000))],
    ['RUNNER_NAME', 'GitHub Actions ' + r.int(2, 40)],
    ['GRADLE_HOME', '/usr/share/gradle-8.11.1'],
    ['GITHUB_REPOSITORY_OWNER_ID', String(r.int(1000000, 99999999))],
    ['ACTIONS_RUNNER_ACTION_ARCHIVE_CACHE', '/opt/actionarchivecache'],
    ['XDG_CONFIG_HOME', '/home/runner/.config'],
    ['DOTNET_SKIP_FIRST_TIME_EXPERIENCE', '1'],
    ['ANT_HOME', '/usr/share/ant'],
    ['GITHUB_TRIGGERING_ACTOR', 'dependabot[bot]'],
    ['GITHUB_REF_TYPE', 'branch'],
    ['HOMEBREW_CLEANUP_PERIODIC_FULL_DAYS', '3650'],
    ['ANDROID_NDK', '/usr/local/lib/android/sdk/ndk/27.2.12479018'],
    ['BOOTSTRAP_HASKELL_NONINTERACTIVE', '1'],
    ['PIPX_BIN_DIR', '/opt/pipx_bin'],
    ['GITHUB_REPOSITORY_ID', String(r.int(100000000, 999999999))],
    ['DEPLOYMENT_BASEPATH', '/opt/runner'],
    ['GITHUB_ACTIONS', 'true'],
    ['GITHUB_SHA', n('git_sha')],
    ['GITHUB_WORKFLOW_REF', 'acme-corp/billing-service/.github/workflows/deploy.yml@refs/heads/main'],
    ['GITHUB_WORKFLOW_SHA', n('git_sha')],
    ['GITHUB_TOKEN', s('github_app_token', 'server')],
    ['ACTIONS_RUNTIME_TOKEN', s('jwt')],
    ['ACTIONS_ID_TOKEN_REQUEST_URL', `https://pipelines.actions.githubusercontent.com/${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 50)}/idtoken/${r.uuid()}/${r.uuid()}?api-version=2.0`],
    ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', s('jwt')],
    ['RUNNER_ENVIRONMENT', 'github-hosted'],
    ['NPM_TOKEN', s('npm_token')],
    ['NODE_AUTH_TOKEN', n('placeholder', 'XXXXX-XXXXX-XXXXX-XXXXX')],
    ['AWS_ACCESS_KEY_ID', s('aws_access_key_id')],
    ['AWS_SECRET_ACCESS_KEY', s('aws_secret_access_key')],
    ['AWS_DEFAULT_REGION', 'eu-west-1'],
    ['AWS_ACCOUNT_ID', n('public_id', r.digits(12))],
    ['DOCKERHUB_USERNAME', 'acmebot'],
    ['DOCKERHUB_TOKEN', s('dockerhub_token')],
    ['SLACK_WEBHOOK_URL', s('slack_webhook')],
    ['CODECOV_ENABLED', 'true'],
    ['ImageOS', 'ubuntu24'],
    ['ImageVersion', n('build_number', `2026${r.int(1001, 1128)}.${r.int(1, 200)}.0`)],
    ['GITHUB_RUN_ID', n('build_number', String(r.int(10, 19)) + r.digits(9))],
    ['GITHUB_RUN_ATTEMPT', '1'],
    ['INVOCATION_ID', n('hex_digest', r.hex(32))],
    ['RUNNER_TEMP', '/home/runner/work/_temp'],
    ['RUNNER_TOOL_CACHE', '/opt/hostedtoolcache'],
    ['GITHUB_EVENT_PATH', '/home/runner/work/_temp/_github_workflow/event.json'],
    ['LANG', 'C.UTF-8'],
    ['HOME', '/home/runner'],
    ['PATH', '/snap/bin:/home/runner/.local/bin:/opt/pipx_bin:/home/runner/.cargo/bin:/home/runner/.config/composer/vendor/bin:/usr/local/.ghcup/bin:/home/runner/.dotnet/tools:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    ['GITHUB_ACTOR_ID', String(r.int(10000000, 99999999))],
    ['GITHUB_SERVER_URL', 'https://github.com'],
    ['RUNNER_TRACKING_ID', `github_${r.uuid()}`],
    ['GITHUB_ENV', `/home/runner/work/_temp/_runner_file_commands/set_env_${r.uuid()}`],
    ['STATS_V3PS', 'true'],
    ['_', '/usr/bin/env'],
  ]);
  return d;
}

function envDevLaptop(k: Kit): Doc {
  const { r, s, n } = k;
  const me = k.who();
  const user = me.first.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z]/g, '');
  const d = new Doc();
  envLines(d, [
    ['TERM_PROGRAM', 'iTerm.app'],
    ['SHELL', '/bin/zsh'],
    ['TERM', 'xterm-256color'],
    ['TMPDIR', `/var/folders/${r.str('abcdefghijklmnopqrstuvwxyz0123456789_', 2)}/${r.str('abcdefghijklmnopqrstuvwxyz0123456789_', 30)}/T/`],
    ['TERM_PROGRAM_VERSION', '3.5.10'],
    ['TERM_SESSION_ID', `w0t0p0:${r.uuid().toUpperCase()}`],
    ['USER', user],
    ['LS_COLORS', LS_COLORS],
    ['SSH_AUTH_SOCK', `/private/tmp/com.apple.launchd.${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 10)}/Listeners`],
    ['PATH', `/Users/${user}/.nvm/versions/node/v20.18.1/bin:/opt/homebrew/bin:/opt/homebrew/sbin:/usr/local/bin:/System/Cryptexes/App/usr/bin:/usr/bin:/bin:/usr/sbin:/sbin:/Users/${user}/go/bin`],
    ['LANG', 'en_US.UTF-8'],
    ['PWD', `/Users/${user}/src/acme/agent-platform`],
    ['EDITOR', 'nvim'],
    ['GIT_AUTHOR_NAME', `${me.first} ${me.last}`],
    ['GIT_AUTHOR_EMAIL', me.mail],
    ['GIT_COMMITTER_EMAIL', k.sv('email', me.email)],
    ['OPENAI_API_KEY', s('openai_api_key')],
    ['ANTHROPIC_API_KEY', s('anthropic_api_key')],
    ['HF_TOKEN', s('huggingface_token')],
    ['GH_TOKEN', s('github_pat_fine_grained')],
    ['DATABASE_URL', ['postgresql://', user, ':', s('database_url'), '@localhost:5432/agent_dev']],
    ['DAYTONA_API_KEY', s('daytona_api_key')],
    ['DAYTONA_SERVER_URL', 'https://app.daytona.io/api'],
    ['GOOGLE_MAPS_API_KEY', s('google_api_key')],
    ['HOMEBREW_PREFIX', '/opt/homebrew'],
    ['HOMEBREW_NO_ANALYTICS', '1'],
    ['NVM_DIR', `/Users/${user}/.nvm`],
    ['GOPATH', `/Users/${user}/go`],
    ['HISTSIZE', '100000'],
    ['LESS', '-R'],
    ['PAGER', 'less'],
    ['COLORTERM', 'truecolor'],
    ['ITERM_PROFILE', 'Default'],
    ['LC_TERMINAL_VERSION', '3.5.10'],
    ['XPC_SERVICE_NAME', '0'],
    ['__CFBundleIdentifier', 'com.googlecode.iterm2'],
    ['COMMAND_MODE', 'unix2003'],
    ['_', '/usr/bin/env'],
  ]);
  return d;
}

function dockerInspect(k: Kit): Doc {
  const { r, s, n } = k;
  const id = r.hex(64);
  const value: JVal = [
    {
      Id: n('hex_digest', id),
      Created: '2026-11-17T08:41:12.518273645Z',
      Path: 'docker-entrypoint.sh',
      Args: ['node', 'dist/server.js'],
      State: { Status: 'running', Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: r.int(1000, 60000), ExitCode: 0, Error: '', StartedAt: '2026-11-17T08:41:13.102938477Z', FinishedAt: '0001-01-01T00:00:00Z' },
      Image: n('docker_digest'),
      ResolvConfPath: `/var/lib/docker/containers/${id}/resolv.conf`,
      HostnamePath: `/var/lib/docker/containers/${id}/hostname`,
      LogPath: `/var/lib/docker/containers/${id}/${id}-json.log`,
      Name: '/billing-api-1',
      RestartCount: 0,
      Driver: 'overlay2',
      Platform: 'linux',
      HostConfig: { NetworkMode: 'billing_default', RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 }, PortBindings: { '8080/tcp': [{ HostIp: '', HostPort: '8080' }] }, Memory: 536870912, NanoCpus: 1000000000 },
      Config: {
        Hostname: id.slice(0, 12),
        User: 'node',
        ExposedPorts: { '8080/tcp': {} },
        Env: [
          'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
          'NODE_ENV=production',
          jstr('STRIPE_SECRET_KEY=', s('stripe_key', 'live')),
          jstr('SENDGRID_API_KEY=', s('sendgrid_api_key')),
          jstr('REDIS_URL=redis://default:', s('database_url'), '@redis-master:6379/0'),
          jstr('GITLAB_DEPLOY_TOKEN=', s('gitlab_token')),
          jstr('SQUARE_APPLICATION_SECRET=', s('square_token', 'secret')),
          'NODE_VERSION=20.18.1',
          'YARN_VERSION=1.22.22',
        ],
        Cmd: ['node', 'dist/server.js'],
        Image: 'registry.acme-corp.io/billing/api:2026.11.3',
        WorkingDir: '/app',
        Entrypoint: ['docker-entrypoint.sh'],
        Labels: {
          'com.docker.compose.project': 'billing',
          'com.docker.compose.service': 'api',
          'org.opencontainers.image.revision': n('git_sha'),
          'org.opencontainers.image.version': n('version_string', '2026.11.3'),
        },
      },
      NetworkSettings: {
        Networks: {
          billing_default: { IPAddress: n('ip_address', `172.18.0.${r.int(2, 20)}`), Gateway: '172.18.0.1', MacAddress: n('mac_address'), NetworkID: n('hex_digest'), EndpointID: n('hex_digest') },
        },
      },
    },
  ];
  const d = new Doc();
  d.add(json(value, 4), '\n');
  return d;
}

function k8sPodEnv(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('$ kubectl -n payments exec deploy/notifier -- env\n');
  envLines(d, [
    ['PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    ['HOSTNAME', `notifier-${r.str('bcdfghjklmnpqrstvwxz2456789', 9)}-${r.str('bcdfghjklmnpqrstvwxz2456789', 5)}`],
    ['MAILGUN_API_KEY', s('mailgun_api_key')],
    ['MAILGUN_DOMAIN', 'mg.acme-corp.io'],
    ['TWILIO_ACCOUNT_SID', n('public_id', `AC${r.hex(32)}`)],
    ['TWILIO_API_KEY', s('twilio_api_key')],
    ['TWILIO_API_SECRET', s('generic_secret')],
    ['TWILIO_FROM_NUMBER', s('phone')],
    ['AMQP_URL', ['amqp://notifier:', s('database_url'), '@rabbitmq.messaging.svc.cluster.local:5672/%2F']],
    ['MONGODB_URI', ['mongodb+srv://svc-notifier:', s('database_url'), `@cluster0.${r.str('abcdefghijklmnopqrstuvwxyz0123456789', 5)}.mongodb.net/notify?retryWrites=true&w=majority`]],
    ['AZURE_SERVICEBUS_CONNECTION', ['Endpoint=sb://acme-events.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=', s('azure_connection_string')]],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'http://otel-collector.observability:4317'],
    ['SERVICE_VERSION', n('version_string', '3.14.2')],
    ['NOTIFIER_PORT_8080_TCP_ADDR', n('ip_address', `10.96.${r.int(0, 255)}.${r.int(1, 254)}`)],
    ['KUBERNETES_SERVICE_HOST', '10.96.0.1'],
    ['KUBERNETES_SERVICE_PORT', '443'],
    ['KUBERNETES_SERVICE_PORT_HTTPS', '443'],
    ['KUBERNETES_PORT', 'tcp://10.96.0.1:443'],
    ['KUBERNETES_PORT_443_TCP', 'tcp://10.96.0.1:443'],
    ['KUBERNETES_PORT_443_TCP_PROTO', 'tcp'],
    ['KUBERNETES_PORT_443_TCP_PORT', '443'],
    ['KUBERNETES_PORT_443_TCP_ADDR', '10.96.0.1'],
    ['NODE_VERSION', '22.11.0'],
    ['YARN_VERSION', '1.22.22'],
    ['HOME', '/home/node'],
  ]);
  return d;
}

function dotenvProduction(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('# Production settings — synced from 1Password by `make env-prod`\n# Last rotated: 2026-10-02 (ticket OPS-', String(r.int(1000, 9999)), ')\n\n');
  envLines(d, [
    ['NODE_ENV', 'production'],
    ['APP_URL', 'https://app.acme-corp.io'],
    ['PORT', '8080'],
    ['DATABASE_URL', ['postgres://app_prod:', s('database_url'), `@db-prod.cluster-${r.str('abcdefghijklmnopqrstuvwxyz0123456789', 12)}.eu-west-1.rds.amazonaws.com:5432/app?sslmode=require`]],
    ['DATABASE_POOL_MAX', '20'],
    ['REDIS_URL', ['rediss://:', s('database_url'), '@cache.acme-corp.internal:6380/0']],
    ['SESSION_SECRET', s('generic_secret')],
    ['JWT_SIGNING_KEY', s('generic_secret')],
    ['STRIPE_SECRET_KEY', s('stripe_key', 'live')],
    ['STRIPE_PUBLISHABLE_KEY', n('publishable_key')],
    ['STRIPE_WEBHOOK_SECRET', k.sv('generic_secret', `whsec_${r.tok(ALNUM_, 32)}`)],
    ['SENDGRID_API_KEY', s('sendgrid_api_key')],
    ['SLACK_BOT_TOKEN', s('slack_bot_token')],
    ['SLACK_SIGNING_SECRET', k.sv('generic_secret', r.hex(32))],
    ['OPENAI_API_KEY', s('openai_api_key')],
    ['SENTRY_DSN', n('sentry_dsn')],
    ['AWS_S3_BUCKET', 'acme-prod-uploads'],
    ['AWS_ACCESS_KEY_ID', s('aws_access_key_id')],
    ['AWS_SECRET_ACCESS_KEY', s('aws_secret_access_key')],
    ['SHOPIFY_ADMIN_API_TOKEN', s('shopify_token')],
    ['SQUARE_ACCESS_TOKEN', s('square_token', 'access')],
    ['TWILIO_API_KEY', s('twilio_api_key')],
    ['HEROKU_API_KEY', s('heroku_api_key', 'uuid')],
    ['LOG_LEVEL', 'info'],
    ['FEATURE_FLAGS', 'checkout_v2,new_search'],
    ['PASSWORD_MIN_LENGTH', n('config_key', '12')],
    ['SESSION_TTL_SECONDS', '86400'],
    ['MAX_UPLOAD_MB', '25'],
    ['SUPPORT_EMAIL', k.s('email')],
  ]);
  return d;
}
const ALNUM_ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function dotenvExample(k: Kit): Doc {
  const { n } = k;
  const d = new Doc();
  d.add('# Copy to .env and fill in. Never commit the real values.\n\n');
  envLines(d, [
    ['OPENAI_API_KEY', n('placeholder', 'sk-...')],
    ['ANTHROPIC_API_KEY', n('placeholder', '<your-anthropic-key>')],
    ['GITHUB_TOKEN', n('placeholder', PFX.ghp + 'x'.repeat(36))],
    ['STRIPE_SECRET_KEY', n('placeholder', PFX.skTest + 'x'.repeat(24))],
    ['STRIPE_PUBLISHABLE_KEY', n('placeholder', PFX.pkTest + '...')],
    ['DATABASE_URL', ['postgres://user:', n('placeholder', 'password'), '@localhost:5432/app']],
    ['REDIS_URL', 'redis://localhost:6379/0'],
    ['SECRET_KEY', n('placeholder', 'changeme')],
    ['SMTP_PASSWORD', n('placeholder', 'your_password_here')],
    ['AWS_ACCESS_KEY_ID', n('aws_documented_example', 'AKIAIOSFODNN7EXAMPLE')],
    ['AWS_SECRET_ACCESS_KEY', n('aws_documented_example', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')],
    ['SLACK_WEBHOOK_URL', n('documented_example', `${PFX.slackHook}T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX`)],
    ['SLACK_BOT_TOKEN', n('placeholder', `${PFX.xoxb}your-bot-token`)],
    ['JWT_SECRET', n('env_reference', '${JWT_SECRET}')],
    ['SENDGRID_API_KEY', n('placeholder', `${PFX.sg}<key-id>.<secret>`)],
    ['HF_TOKEN', n('placeholder', `${PFX.hf}********************************`)],
    ['NPM_TOKEN', n('env_reference', '$NPM_TOKEN')],
    ['DAYTONA_API_KEY', n('placeholder', '<paste key from the dashboard>')],
    ['SUPPORT_EMAIL', n('reserved_email', 'support@example.com')],
    ['SUPPORT_PHONE', n('documented_example', '+1-555-0100')],
    ['ENCRYPTION_KEY', n('placeholder', '0000000000000000000000000000000000000000000000000000000000000000')],
    ['API_KEY', n('placeholder', 'REPLACE_ME')],
  ]);
  d.add('PASSWORD=\n# TOKEN=\n');
  return d;
}

function dotenvLocal(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# local overrides (gitignored)
export NODE_ENV=development
export DEBUG="app:*"
export OPENAI_API_KEY="${s('openai_api_key', 'legacy')}"
export ANTHROPIC_API_KEY='${s('anthropic_api_key')}'
# export ANTHROPIC_API_KEY=${n('placeholder', 'sk-ant-xxxxxxxx')}
export GOOGLE_APPLICATION_CREDENTIALS=~/.config/gcloud/application_default_credentials.json
export GCP_SA_JSON='{"type": "service_account", "project_id": "acme-ml-${r.int(100000, 999999)}", "private_key_id": "${n('hex_digest', r.hex(40))}", "private_key": "${S('gcp_service_account', privateKeyPem(r, 'pkcs8').replace(/\n/g, '\\n'), ['private_key'])}\\n", "client_email": "${k.sv('email', 'trainer@acme-ml.iam.gserviceaccount.com')}"}'
export PYPI_TOKEN=${s('pypi_token')}
export HUGGING_FACE_HUB_TOKEN=${s('huggingface_token')}
export DATABRICKS_HOST=https://adb-${r.digits(16)}.${r.int(1, 19)}.azuredatabricks.net
export DATABRICKS_TOKEN=${s('databricks_token')}
export DIGITALOCEAN_ACCESS_TOKEN=${s('digitalocean_token')}
export MAPBOX_STYLE_COLOR=${n('hex_color')}
export PGPASSWORD=${s('generic_secret')}
export CACHE_DIR="$HOME/.cache/acme"
export SERVICE_UUID=${n('uuid')}
`;
  return d;
}

function dotenvCompose(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.add('# docker compose --env-file compose.env up\n');
  envLines(d, [
    ['COMPOSE_PROJECT_NAME', 'analytics'],
    ['POSTGRES_USER', 'analytics'],
    ['POSTGRES_PASSWORD', s('generic_secret')],
    ['MYSQL_ROOT_PASSWORD', s('generic_secret')],
    ['PGADMIN_DEFAULT_EMAIL', k.s('email')],
    ['PGADMIN_DEFAULT_PASSWORD', s('generic_secret')],
    ['MINIO_ROOT_USER', 'minio-admin'],
    ['MINIO_ROOT_PASSWORD', s('generic_secret')],
    ['RABBITMQ_DEFAULT_PASS', n('env_reference', '${RABBITMQ_PASS:?set it}')],
    ['AZURE_STORAGE_CONNECTION_STRING', ['DefaultEndpointsProtocol=https;AccountName=acmeanalytics;AccountKey=', s('azure_storage_key'), ';EndpointSuffix=core.windows.net']],
    ['GRAFANA_ADMIN_PASSWORD', n('placeholder', 'admin')],
    ['METABASE_ENCRYPTION_SECRET_KEY', s('generic_secret')],
    ['TZ', 'Europe/Berlin'],
  ]);
  return d;
}

function appYaml(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# config/production.yaml
server:
  host: 0.0.0.0
  port: 8443
  tls:
    cert_file: /etc/ssl/acme/server.crt
    key_file: /etc/ssl/acme/server.key
    min_version: "1.2"
database:
  host: pg-primary.internal
  port: 5432
  name: orders
  user: orders_svc
  password: ${s('generic_secret')}
  pool:
    max_open: 50
    max_idle: 10
    conn_max_lifetime: 30m
  replica_url: postgres://orders_ro:${s('database_url')}@pg-replica.internal:5432/orders
cache:
  url: redis://:${s('database_url')}@redis.internal:6379/2
  ttl: 300s
smtp:
  host: smtp.sendgrid.net
  port: 587
  username: apikey
  password: ${s('sendgrid_api_key')}
  from: ${k.s('email')}
payments:
  provider: stripe
  api_key: ${s('stripe_key', 'restricted')}
  publishable_key: ${n('publishable_key')}
  webhook_tolerance: 300
observability:
  sentry_dsn: ${n('sentry_dsn')}
  sample_rate: 0.25
  build_sha: ${n('git_sha')}
auth:
  issuer: https://auth.acme-corp.io/
  audience: orders-api
  jwks_url: https://auth.acme-corp.io/.well-known/jwks.json
  password_min_length: ${n('config_key', '12')}
  secret_name: ${n('config_key', 'orders-auth-secret')}
  token_url: https://auth.acme-corp.io/oauth/token
  client_id: orders-api-${r.hex(8)}
  client_secret: ${s('generic_secret')}
theme:
  primary: ${n('hex_color')}
  accent: ${n('hex_color')}
`;
  return d;
}

function dockerCompose(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`services:
  db:
    image: postgres:16.4@${n('docker_digest')}
    restart: unless-stopped
    environment:
      POSTGRES_DB: app
      POSTGRES_USER: app
      POSTGRES_PASSWORD: ${s('generic_secret')}
    ports:
      - "5432:5432"
    volumes:
      - pgdata:/var/lib/postgresql/data
  api:
    build: .
    depends_on: [db, redis]
    environment:
      DATABASE_URL: postgresql://app:${s('database_url')}@db:5432/app
      REDIS_URL: redis://redis:6379
      GITHUB_APP_PRIVATE_KEY_PATH: /run/secrets/gh_app_key
      AZURE_EVENTHUB: "Endpoint=sb://acme-telemetry.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${s('azure_connection_string')};EntityPath=events"
      SENTRY_DSN: ${n('sentry_dsn')}
      SHOPIFY_TOKEN: ${s('shopify_token')}
      DB_PASSWORD_FILE: /run/secrets/db_password
    secrets:
      - gh_app_key
      - db_password
  redis:
    image: redis:7.4-alpine@${n('docker_digest')}
    command: ["redis-server", "--requirepass", "${s('generic_secret')}"]
  mailhog:
    image: mailhog/mailhog:v1.0.1
    ports: ["1025:1025", "8025:8025"]
secrets:
  gh_app_key:
    file: ./secrets/github-app.pem
  db_password:
    environment: DB_PASSWORD
volumes:
  pgdata: {}
# build ${n('build_number')} / compose ${r.int(2, 2)}.${r.int(29, 31)}.${r.int(0, 7)}
`;
  return d;
}

function k8sDeployment(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`apiVersion: apps/v1
kind: Deployment
metadata:
  name: search-indexer
  namespace: search
  labels:
    app.kubernetes.io/name: search-indexer
    app.kubernetes.io/version: "${n('version_string')}"
  annotations:
    deployment.kubernetes.io/revision: "${r.int(10, 90)}"
    kubectl.kubernetes.io/last-applied-configuration-hash: ${n('hex_digest')}
spec:
  replicas: 3
  selector:
    matchLabels:
      app.kubernetes.io/name: search-indexer
  template:
    metadata:
      labels:
        app.kubernetes.io/name: search-indexer
        pod-template-hash: ${r.str('bcdfghjklmnpqrstvwxz2456789', 10)}
    spec:
      serviceAccountName: search-indexer
      containers:
        - name: indexer
          image: ghcr.io/acme-corp/search-indexer@${n('docker_digest')}
          args: ["--workers=8", "--batch-size=500"]
          env:
            - name: ELASTIC_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: elastic-credentials
                  key: password
            - name: OPENAI_API_KEY
              valueFrom:
                secretKeyRef: {name: openai, key: api-key}
            - name: SENDGRID_API_KEY
              value: "${s('sendgrid_api_key')}"
            - name: HF_TOKEN
              value: ${s('huggingface_token')}
            - name: GOOGLE_API_KEY
              value: "${s('google_api_key')}"
            - name: POD_UID
              valueFrom:
                fieldRef: {fieldPath: metadata.uid}
          resources:
            requests: {cpu: 500m, memory: 1Gi}
            limits: {cpu: "2", memory: 4Gi}
          readinessProbe:
            httpGet: {path: /healthz, port: 8080}
            periodSeconds: 10
---
apiVersion: v1
kind: Secret
metadata:
  name: indexer-gcp
  namespace: search
type: Opaque
stringData:
  key.json: |
    {
      "type": "service_account",
      "project_id": "acme-search-prod",
      "private_key_id": "${n('hex_digest', r.hex(40))}",
      "private_key": "${S('gcp_service_account', privateKeyPem(r, 'pkcs8').replace(/\n/g, '\\n'), ['private_key'])}\\n",
      "client_email": "${k.sv('email', 'indexer@acme-search-prod.iam.gserviceaccount.com')}",
      "client_id": "${r.digits(21)}",
      "token_uri": "https://oauth2.googleapis.com/token"
    }
  elastic-user: indexer
  elastic-password: ${s('generic_secret')}
`;
  return d;
}

function settingsToml(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# acme-worker settings
title = "acme-worker"
version = "${n('version_string')}"

[server]
bind = "0.0.0.0:9000"
workers = 4
request_timeout_ms = 15000

[database]
url = "mysql://worker:${s('database_url')}@mysql-01.internal:3306/jobs?parseTime=true"
max_connections = 32

[queue]
url = "amqps://worker:${s('database_url')}@mq.internal:5671/jobs"
prefetch = 20

[integrations.slack]
bot_token = "${s('slack_bot_token')}"
app_token = "${s('slack_app_token')}"
channel = "C${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}"

[integrations.github]
app_id = ${r.int(100000, 999999)}
installation_id = ${r.int(10000000, 99999999)}
webhook_secret = "${s('generic_secret')}"

[integrations.openai]
api_key = "${s('openai_api_key')}"
model = "gpt-4o-mini"

[integrations.daytona]
api_key = "${s('daytona_api_key')}"
target = "eu"

[telemetry]
enabled = true
endpoint = "https://otel.acme-corp.io:4318"
instance_id = "${n('uuid')}"
`;
  return d;
}

function pypirc(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`[distutils]
index-servers =
    pypi
    testpypi
    internal

[pypi]
username = __token__
password = ${s('pypi_token', undefined)}

[testpypi]
repository = https://test.pypi.org/legacy/
username = __token__
password = ${s('pypi_token')}

[internal]
repository = https://pypi.acme-corp.io/simple/
username = deploy
password = ${s('generic_secret')}

; legacy section, keep for old twine
[example]
username = __token__
password = ${n('placeholder', '<your PyPI API token>')}
`;
  return d;
}

function npmrc(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`; ~/.npmrc
registry=https://registry.npmjs.org/
@acme:registry=https://npm.pkg.github.com/
//registry.npmjs.org/:_authToken=${s('npm_token')}
//npm.pkg.github.com/:_authToken=${s('github_pat_classic')}
//npm.acme-corp.io/repository/npm-private/:_authToken=${n('env_reference', '${NEXUS_TOKEN}')}
//npm.acme-corp.io/repository/npm-private/:always-auth=true
save-exact=true
fund=false
audit-level=high
init-author-email=${k.s('email')}
`;
  return d;
}

function awsCredentials(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`[default]
aws_access_key_id = ${s('aws_access_key_id')}
aws_secret_access_key = ${s('aws_secret_access_key')}
region = eu-central-1

[profile-staging]
aws_access_key_id=${s('aws_access_key_id')}
aws_secret_access_key=${s('aws_secret_access_key')}

[temp-session]
aws_access_key_id = ${s('aws_access_key_id', 'session')}
aws_secret_access_key = ${s('aws_secret_access_key')}
aws_session_token = ${s('generic_secret')}

[docs-example]
aws_access_key_id = ${n('aws_documented_example', 'AKIAIOSFODNN7EXAMPLE')}
aws_secret_access_key = ${n('aws_documented_example', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')}

[sso-dev]
sso_session = acme
sso_account_id = ${n('public_id', k.r.digits(12))}
sso_role_name = PowerUserAccess
`;
  return d;
}

function gcpServiceAccount(k: Kit): Doc {
  const { r, n } = k;
  const value: JVal = {
    type: 'service_account',
    project_id: 'acme-data-platform',
    private_key_id: n('hex_digest', r.hex(40)),
    private_key: jstr(S('gcp_service_account', privateKeyPem(r, 'pkcs8'), ['private_key']), '\n'),
    client_email: k.sv('email', 'etl-runner@acme-data-platform.iam.gserviceaccount.com'),
    client_id: r.digits(21),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: 'https://www.googleapis.com/robot/v1/metadata/x509/etl-runner%40acme-data-platform.iam.gserviceaccount.com',
    universe_domain: 'googleapis.com',
  };
  const d = new Doc();
  d.add(json(value, 2), '\n');
  return d;
}

function appsettingsJson(k: Kit): Doc {
  const { r, s, n } = k;
  const value: JVal = {
    Logging: { LogLevel: { Default: 'Information', 'Microsoft.AspNetCore': 'Warning' } },
    AllowedHosts: '*',
    ConnectionStrings: {
      Default: jstr('Server=tcp:acme-sql.database.windows.net,1433;Initial Catalog=orders;User ID=orders_app;Password=', s('generic_secret'), ';Encrypt=True;Connection Timeout=30;'),
      Storage: jstr('DefaultEndpointsProtocol=https;AccountName=acmeorders;AccountKey=', s('azure_storage_key'), ';EndpointSuffix=core.windows.net'),
      ServiceBus: jstr('Endpoint=sb://acme-orders.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=', s('azure_connection_string')),
      Redis: jstr('acme-cache.redis.cache.windows.net:6380,password=', s('generic_secret'), ',ssl=True,abortConnect=False'),
    },
    AzureAd: { Instance: 'https://login.microsoftonline.com/', TenantId: n('uuid'), ClientId: n('uuid'), ClientSecret: s('generic_secret') },
    Blob: { AccountName: 'acmearchive', AccountKey: s('azure_storage_key'), Container: 'invoices' },
    ApplicationInsights: { ConnectionString: jstr('InstrumentationKey=', n('uuid'), ';IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/') },
    Features: { NewCheckout: true, MaxItems: 250, Version: n('version_string') },
  };
  const d = new Doc();
  d.add(json(value, 2), '\n');
  void r;
  return d;
}

function applicationProperties(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# Spring Boot — profile: prod
spring.application.name=ledger
server.port=8081
spring.datasource.url=jdbc:postgresql://ledger-db.internal:5432/ledger
spring.datasource.username=ledger
spring.datasource.password=${s('generic_secret')}
spring.datasource.hikari.maximum-pool-size=30
spring.jpa.hibernate.ddl-auto=validate
spring.mail.host=smtp.mailgun.org
spring.mail.username=${k.s('email')}
spring.mail.password=${s('generic_secret')}
mailgun.api-key=${s('mailgun_api_key')}
spring.rabbitmq.addresses=amqp://ledger:${s('database_url')}@rabbit.internal:5672
spring.security.oauth2.client.registration.github.client-id=Iv1.${r.hex(16)}
spring.security.oauth2.client.registration.github.client-secret=${s('generic_secret')}
management.endpoints.web.exposure.include=health,info,prometheus
ledger.export.twilio.api-key=${s('twilio_api_key')}
ledger.export.cron=0 0 3 * * *
ledger.build.commit=${n('git_sha')}
ledger.password.policy.min-length=${n('config_key', '14')}
`;
  return d;
}

function terraformTfvars(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# terraform.tfvars — prod
region              = "nyc3"
do_token            = "${s('digitalocean_token')}"
heroku_email        = "${k.s('email')}"
heroku_api_key      = "${s('heroku_api_key', 'uuid')}"
databricks_host     = "https://dbc-${r.hex(8)}-${r.hex(4)}.cloud.databricks.com"
databricks_token    = "${s('databricks_token')}"
cloudflare_zone_id  = "${n('hex_digest', r.hex(32))}"
datadog_site        = "datadoghq.eu"
instance_count      = 3
image_digest        = "${n('docker_digest')}"
allowed_cidrs       = ["${n('ip_address')}/32", "10.0.0.0/8"]
db_admin_password   = "${s('generic_secret')}"
tags = {
  owner       = "platform"
  cost_center = "${r.int(1000, 9999)}"
}
`;
  return d;
}

function netrc(k: Kit): Doc {
  const { s } = k;
  const d = new Doc();
  d.t`machine api.heroku.com
  login ${k.s('email')}
  password ${s('heroku_api_key', 'uuid')}
machine git.heroku.com
  login ${k.s('email')}
  password ${s('heroku_api_key')}
machine github.com
  login acme-deploy
  password ${s('github_pat_classic')}
machine artifacts.acme-corp.io login ci password ${s('generic_secret')}
`;
  return d;
}

function gitCredentials(k: Kit): Doc {
  const { s } = k;
  const d = new Doc();
  d.t`https://acme-deploy:${s('github_pat_classic', undefined, ['basic_auth_url'])}@github.com
https://oauth2:${s('gitlab_token', undefined, ['basic_auth_url'])}@gitlab.com
https://x-access-token:${s('github_app_token', 'server', ['basic_auth_url'])}@github.com
https://jenkins:${s('basic_auth_url')}@bitbucket.acme-corp.io
https://ci-bot:${s('github_pat_fine_grained', undefined, ['basic_auth_url'])}@github.com
`;
  return d;
}

function kubeconfigView(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  d.t`$ kubectl config view
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: DATA+OMITTED
    server: https://${r.hex(32).toUpperCase()}.gr7.eu-west-1.eks.amazonaws.com
  name: arn:aws:eks:eu-west-1:${n('public_id', r.digits(12))}:cluster/prod
- cluster:
    certificate-authority-data: DATA+OMITTED
    server: https://127.0.0.1:${r.int(40000, 60000)}
  name: kind-dev
contexts:
- context:
    cluster: kind-dev
    user: kind-dev
  name: kind-dev
- context:
    cluster: arn:aws:eks:eu-west-1:${n('public_id', r.digits(12))}:cluster/prod
    namespace: payments
    user: prod-admin
  name: prod
current-context: kind-dev
kind: Config
preferences: {}
users:
- name: kind-dev
  user:
    client-certificate-data: ${n('masked_secret', 'DATA+OMITTED')}
    client-key-data: ${n('masked_secret', 'DATA+OMITTED')}
- name: prod-admin
  user:
    token: ${n('masked_secret', 'REDACTED')}
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: ["eks", "get-token", "--cluster-name", "prod"]
`;
  return d;
}

function databricksCfg(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`; ~/.databrickscfg
[DEFAULT]
host  = https://adb-${r.digits(16)}.${r.int(1, 19)}.azuredatabricks.net
token = ${s('databricks_token')}

[staging]
host  = https://dbc-${r.hex(8)}-${r.hex(4)}.cloud.databricks.com
token = ${s('databricks_token')}
jobs-api-version = 2.1

[ci]
host = https://dbc-${r.hex(8)}-${r.hex(4)}.cloud.databricks.com
token = ${n('env_reference', '{{secrets/ci/databricks_token}}')}
cluster_id = ${r.digits(4)}-${r.digits(6)}-${r.str('abcdefghijklmnopqrstuvwxyz0123456789', 8)}
`;
  return d;
}

function slackAppYaml(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# bolt app — deploy/values.production.yaml
slack:
  appId: A${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}
  clientId: "${r.digits(13)}.${r.digits(13)}"
  clientSecret: ${k.sv('generic_secret', r.hex(32))}
  signingSecret: ${k.sv('generic_secret', r.hex(32))}
  botToken: ${s('slack_bot_token')}
  appToken: ${s('slack_app_token')}
  userToken: ${s('slack_user_token')}
  socketMode: true
  channels:
    alerts: C${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}
    deploys: C${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}
  incomingWebhook: ${s('slack_webhook')}
  exampleWebhook: ${n('documented_example', `${PFX.slackHook}T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX`)}
image:
  repository: ghcr.io/acme-corp/slack-bot
  digest: ${n('docker_digest')}
resources:
  limits: {cpu: 200m, memory: 256Mi}
`;
  return d;
}

export const CONFIG_DOCS: readonly DocSpec[] = [
  { path: 'config/slack-app-values.yaml', context: 'YAML Helm values for a Slack app', build: slackAppYaml },
  { path: 'env/printenv-ci-runner.txt', context: 'env dump: `env` on a GitHub Actions runner', build: printenvCi },
  { path: 'env/env-dev-laptop.txt', context: 'env dump: a developer shell', build: envDevLaptop },
  { path: 'env/docker-inspect.json', context: 'env dump: `docker inspect` (Config.Env)', build: dockerInspect },
  { path: 'env/kubectl-exec-env.txt', context: 'env dump: `kubectl exec … env` in a pod', build: k8sPodEnv },
  { path: 'dotenv/production.env', context: '.env: production settings', build: dotenvProduction },
  { path: 'dotenv/example.env', context: '.env: .env.example with placeholders only', build: dotenvExample },
  { path: 'dotenv/local.env', context: '.env: shell-style exports, quoting, an inline service-account JSON', build: dotenvLocal },
  { path: 'dotenv/compose.env', context: '.env: docker compose env-file', build: dotenvCompose },
  { path: 'config/production.yaml', context: 'YAML application config', build: appYaml },
  { path: 'config/docker-compose.yml', context: 'YAML docker compose', build: dockerCompose },
  { path: 'config/k8s-deployment.yaml', context: 'YAML Kubernetes Deployment and Secret (stringData)', build: k8sDeployment },
  { path: 'config/settings.toml', context: 'TOML application config', build: settingsToml },
  { path: 'config/pypirc.ini', context: 'INI ~/.pypirc', build: pypirc },
  { path: 'config/npmrc.ini', context: 'INI ~/.npmrc', build: npmrc },
  { path: 'config/aws-credentials.ini', context: 'INI ~/.aws/credentials', build: awsCredentials },
  { path: 'config/gcp-service-account.json', context: 'JSON GCP service-account key file', build: gcpServiceAccount },
  { path: 'config/appsettings.json', context: 'JSON .NET appsettings (Azure connection strings)', build: appsettingsJson },
  { path: 'config/application.properties', context: 'Java properties (Spring Boot)', build: applicationProperties },
  { path: 'config/terraform.tfvars', context: 'HCL terraform.tfvars', build: terraformTfvars },
  { path: 'config/netrc.txt', context: '~/.netrc', build: netrc },
  { path: 'config/git-credentials.txt', context: '~/.git-credentials (tokens in URLs)', build: gitCredentials },
  { path: 'config/kubectl-config-view.yaml', context: '`kubectl config view` (secrets shown as DATA+OMITTED/REDACTED)', build: kubeconfigView },
  { path: 'config/databrickscfg.ini', context: 'INI ~/.databrickscfg', build: databricksCfg },
];

