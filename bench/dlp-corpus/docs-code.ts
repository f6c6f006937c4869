// Corpus documents: source files, git output, Dockerfiles and CI configs, lockfiles, SSH and
// certificate files, documentation, data exports.
import {
  ALNUM, DIGITS, Doc, HEX, LOWER, PFX, S, UPPER, WORDS, ibanMod97, isoTime, pemHead, pemTail, privateKeyPem, sshPublicKey, type Piece, type Rng,
} from './gen.js';
import { pad2, type Kit } from './kit.js';
import type { DocSpec } from './index.js';

// --------------------------------------------------------------------------- source files

function serverJs(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`// server.js — payments gateway (legacy, see ADR-0042 before touching)
'use strict';
const crypto = require('node:crypto');
const express = require('express');
const Stripe = require('stripe');
const sgMail = require('@sendgrid/mail');
const twilio = require('twilio');
const formData = require('form-data');
const Mailgun = require('mailgun.js');

// TODO(ops): move to the secret store
const stripe = Stripe(process.env.STRIPE_SECRET_KEY || '${s('stripe_key', 'live')}');
sgMail.setApiKey('${s('sendgrid_api_key')}');
// twilio: API key SID + secret
const twilioClient = twilio('${s('twilio_api_key')}', process.env.TWILIO_API_SECRET, { accountSid: '${n('public_id', `AC${r.hex(32)}`)}' });
const mg = new Mailgun(formData).client({ username: 'api', key: '${s('mailgun_api_key')}', url: 'https://api.eu.mailgun.net' });
const SLACK_HOOK = '${s('slack_webhook')}';
const JWT_SECRET = process.env.JWT_SECRET ?? '${s('generic_secret')}';
const GOOGLE_KEY = "${s('google_api_key')}";

const config = {
  apiKey: process.env.API_KEY,
  brandColor: '${n('hex_color')}',
  retryDelays: [100, 250, 1000, 5000],
  webhookSigningSecret: '${k.sv('generic_secret', `whsec_${r.tok(ALNUM, 32)}`)}',
  emptyHash: '${n('hex_digest', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')}',
  buildId: '${n('git_sha')}',
};

const app = express();
app.use(express.json({ limit: '1mb' }));

app.post('/webhook', express.raw({ type: 'application/json' }), (req, res) => {
  const sig = req.headers['stripe-signature'];
  let event;
  try {
    event = stripe.webhooks.constructEvent(req.body, sig, config.webhookSigningSecret);
  } catch (err) {
    return res.status(400).send(\`Webhook Error: \${err.message}\`);
  }
  const digest = crypto.createHash('sha256').update(req.body).digest('hex');
  console.log('event', event.id, digest);
  res.json({ received: true });
});

app.post('/notify', async (req, res) => {
  await sgMail.send({ to: req.body.email, from: '${k.s('email')}', subject: 'Your receipt', text: 'Thanks!' });
  await twilioClient.messages.create({ to: req.body.phone, from: '${s('phone')}', body: 'Your order shipped' });
  res.sendStatus(204);
});

app.listen(process.env.PORT || 3000);
`;
  return d;
}

function settingsPy(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const django = `django-insecure-${r.tok(LOWER + DIGITS + '!@#$%^&*(-_=+)', 50)}`;
  d.t`"""Django settings for shop (production)."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = '${k.sv('generic_secret', django)}'
DEBUG = False
ALLOWED_HOSTS = ["shop.acme-corp.io", "${n('ip_address')}"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "shop",
        "PASSWORD": "${s('generic_secret')}",
        "HOST": "pg-shop.internal",
        "PORT": "5432",
    }
}

CELERY_BROKER_URL = "redis://:${s('database_url')}@redis.internal:6379/1"
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/2")

AWS_ACCESS_KEY_ID = "${s('aws_access_key_id')}"
AWS_SECRET_ACCESS_KEY = "${s('aws_secret_access_key')}"
AWS_STORAGE_BUCKET_NAME = "acme-shop-static"
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
SENTRY_DSN = "${n('sentry_dsn')}"

TWILIO_ACCOUNT_SID = "${n('public_id', `AC${r.hex(32)}`)}"
TWILIO_API_KEY = "${s('twilio_api_key')}"
OPENAI_API_KEY = os.getenv("OPENAI_API_KEY")
ANTHROPIC_API_KEY = os.getenv("ANTHROPIC_API_KEY", "${s('anthropic_api_key')}")
EVENT_HUB = "Endpoint=sb://shop-events.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=${s('azure_connection_string')};EntityPath=orders"

ADMINS = [("Ops", "${k.s('email')}"), ("Billing", "${k.s('email')}")]
DEFAULT_FROM_EMAIL = "${n('reserved_email', 'no-reply@shop.example')}"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": ${n('config_key', '12')}}},
]
CSRF_TRUSTED_ORIGINS = ["https://shop.acme-corp.io"]
STATIC_VERSION = "${n('hex_digest', r.hex(12))}"
`;
  return d;
}

function mainGo(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	mapsAPIKey     = "${s('google_api_key')}"
	squareToken    = "${s('square_token', 'access')}"
	doToken        = "${s('digitalocean_token')}"
	defaultTimeout = 30 * time.Second
	userAgent      = "acme-geo/${n('version_string')} (+https://acme-corp.io/bot)"
	// SHA-256("") for cache-busting
	emptySHA = "${n('hex_digest', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')}"
	nsUUID   = "${n('uuid', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')}"
)

var defaultDSN = "postgres://geo:${s('database_url')}@pg-geo.internal:5432/geo?sslmode=verify-full"

func main() {
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		dsn = defaultDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultTimeout)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer pool.Close()

	h := sha256.Sum256([]byte(mapsAPIKey))
	log.Printf("maps key fingerprint %s", hex.EncodeToString(h[:8]))

	req, _ := http.NewRequest("GET", "https://connect.squareup.com/v2/locations", nil)
	req.Header.Set("Authorization", "Bearer "+squareToken)
	req.Header.Set("Square-Version", "2024-10-17")
	// OAuth app secret for the Square sandbox (left here during the migration)
	req.Header.Set("X-Square-App-Secret", "${s('square_token', 'secret')}")
	_ = req
	log.Printf("build %s at %s", "${n('git_sha', r.hex(12))}", "${isoTime(Date.UTC(2026, 10, 1, 12, 0, 0))}")
}
`;
  return d;
}

function deploySh(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`#!/usr/bin/env bash
# deploy.sh — builds, pushes and releases. Usage: ./deploy.sh <env>
set -euo pipefail

ENV="\${1:-staging}"
export HEROKU_API_KEY="${s('heroku_api_key')}"
DO_TOKEN=${s('digitalocean_token')}

echo "==> logging in to Docker Hub"
docker login -u acmebot -p "${s('dockerhub_token')}"

echo "==> publishing the client SDK"
npm publish --access public --//registry.npmjs.org/:_authToken=${s('npm_token')}

echo "==> GitHub CLI"
gh auth login --with-token <<< "${s('github_oauth')}"

aws configure set aws_access_key_id ${s('aws_access_key_id')}
aws configure set aws_secret_access_key "${s('aws_secret_access_key')}"

curl -fsSL -H "Authorization: Bearer \${DO_TOKEN}" "https://api.digitalocean.com/v2/apps/${n('uuid')}/deployments" -d '{"force_build":true}'

TF_VERSION=1.9.8
curl -fsSLo tf.zip "https://releases.hashicorp.com/terraform/\${TF_VERSION}/terraform_\${TF_VERSION}_linux_amd64.zip"
echo "${n('hex_digest')}  tf.zip" | sha256sum -c -

psql "postgresql://deploy:${s('database_url')}@pg-primary.internal:5432/app" -c 'select 1'
HF_TOKEN=${s('huggingface_token')} huggingface-cli upload acme/reco ./model --repo-type model
git push "https://deploy-bot:${s('github_pat_fine_grained', undefined, ['basic_auth_url'])}@github.com/acme-corp/infra.git" HEAD:main
echo "done: \${ENV} @ $(git rev-parse --short HEAD)"
`;
  return d;
}

function testFixturesPy(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  d.t`"""Fixtures for the redaction tests: none of these are real credentials."""
import pytest

FAKE_AWS_KEY_ID = "${n('aws_documented_example', 'AKIAIOSFODNN7EXAMPLE')}"
FAKE_AWS_SECRET = "${n('aws_documented_example', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')}"
FAKE_GITHUB_TOKEN = "${n('placeholder', PFX.ghp + 'x'.repeat(36))}"
FAKE_GITHUB_TOKEN_2 = "${n('checksum_invalid_token', PFX.ghp + 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij')}"
FAKE_GITHUB_TOKEN_3 = "${n('checksum_invalid_token')}"
FAKE_STRIPE = "${n('placeholder', PFX.skTest + 'X'.repeat(24))}"
FAKE_SLACK = "${n('placeholder', PFX.xoxb + '0000000000-0000000000000-' + 'x'.repeat(24))}"
FAKE_OPENAI = "${n('placeholder', 'sk-' + 'x'.repeat(48))}"
FAKE_ANTHROPIC = "${n('placeholder', PFX.skAnt + '...')}"
TEST_CARD = "${n('documented_example', '4111 1111 1111 1111')}"
TEST_CARD_STRIPE = "${n('documented_example', '4242424242424242')}"
BAD_CARD = "${n('card_luhn_invalid')}"
TEST_SSN = "${n('ssn_invalid', '123-45-6789')}"
BAD_SSNS = ["${n('ssn_invalid')}", "${n('ssn_invalid')}", "${n('ssn_invalid')}", "${n('ssn_invalid')}"]
TEST_IBAN = "${n('documented_example', 'GB82 WEST 1234 5698 7654 32')}"
BAD_IBAN = "${n('iban_bad_checksum')}"
TEST_EMAIL = "${n('reserved_email')}"
TEST_PHONE = "${n('documented_example', '(212) 555-0199')}"
PASSWORD = "${n('placeholder', 'hunter2')}"
API_KEY = "${n('placeholder', 'your-api-key-here')}"
TOKEN = "${n('placeholder', '<your-token>')}"
SECRET = "${n('env_reference', '${SECRET}')}"


@pytest.fixture
def sample_log():
    return (
        "2026-01-01T00:00:00Z INFO request id=${n('uuid')} sha=${n('git_sha')} "
        "took=12ms build=${n('build_number')} version=${n('version_string')}"
    )


def test_luhn_rejects_bad_card():
    assert not luhn_valid(BAD_CARD)


def test_uuid_is_not_a_secret(redactor):
    assert redactor.redact("${n('uuid')}") == "${'$'}{same}"
`;
  void r;
  return d;
}

function componentsTsx(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const png = r.bytes(1400).toString('base64');
  d.t`import { useEffect, useState } from 'react';
import { Loader } from '@googlemaps/js-api-loader';
import { loadStripe } from '@stripe/stripe-js';

// Browser keys (restricted by HTTP referrer in the console)
const loader = new Loader({ apiKey: '${s('google_api_key')}', version: 'weekly' });
const stripePromise = loadStripe('${n('publishable_key')}');

export const palette = {
  primary: '${n('hex_color')}',
  primaryDark: '${n('hex_color')}',
  surface: '${n('hex_color', '#ffffff')}',
  danger: '${n('hex_color')}',
  muted: '${n('hex_color')}',
};

const SPINNER = 'data:image/png;base64,${n('base64_blob', png)}';

export function StoreMap({ storeId }: { storeId: string }) {
  const [ready, setReady] = useState(false);
  useEffect(() => {
    loader.load().then(() => setReady(true));
  }, []);
  return (
    <div key="${n('uuid')}" data-store={storeId} style={{ borderColor: palette.primary }}>
      {ready ? <div id="map" /> : <img src={SPINNER} alt="loading" width={32} height={32} />}
      <svg viewBox="0 0 24 24"><path d="M12 2C8.13 2 5 5.13 5 9c0 5.25 7 13 7 13s7-7.75 7-13c0-3.87-3.13-7-7-7zm0 9.5a2.5 2.5 0 010-5 2.5 2.5 0 010 5z" fill="${n('hex_color')}" /></svg>
    </div>
  );
}

export const BUILD = { sha: '${n('git_sha')}', time: ${n('timestamp')}, version: '${n('version_string')}' };
`;
  return d;
}

function shopifyRb(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`# frozen_string_literal: true
require 'shopify_api'
require 'square'

module Acme
  class StoreSync
    SHOP = 'acme-outlet.myshopify.com'
    TOKEN = ENV.fetch('SHOPIFY_TOKEN', '${s('shopify_token')}')
    SQUARE = Square::Client.new(access_token: '${s('square_token', 'access')}', environment: 'production')
    SQUARE_OAUTH = '${s('square_token', 'oauth')}'
    MAILGUN_KEY = ENV['MAILGUN_API_KEY'] || '${s('mailgun_api_key')}'
    PRIVATE_APP_PASSWORD = '${s('shopify_token')}'
    WEBHOOK_SECRET = ENV.fetch('SHOPIFY_WEBHOOK_SECRET')
    BRAND_GREEN = '${n('hex_color')}'

    def session
      ShopifyAPI::Auth::Session.new(shop: SHOP, access_token: TOKEN)
    end

    def sync!
      products = ShopifyAPI::Product.all(session: session, limit: 250)
      products.each do |p|
        SQUARE.catalog.upsert_catalog_object(body: { idempotency_key: SecureRandom.uuid, object: to_square(p) })
      end
      notify('${k.s('email')}', products.size)
    end
  end
end
`;
  return d;
}

function cryptoTestGo(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`package sign

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// testKey is a throwaway RSA key used only by these tests.
const testKey = \`${s('private_key', 'rsa')}\`

// testCert is the matching self-signed certificate.
const testCert = \`${n('x509_certificate')}\`

var vectors = []struct {
	in, sha256, sha1, b64 string
}{
	{"abc", "${n('hex_digest', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')}", "${n('hex_digest', 'a9993e364706816aba3e25717850c26c9cd0d89d')}", "YWJj"},
	{"", "${n('hex_digest', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')}", "${n('hex_digest', 'da39a3ee5e6b4b0d3255bfef95601890afd80709')}", ""},
	{"${r.tok(ALNUM, 12)}", "${n('hex_digest')}", "${n('hex_digest', r.hex(40))}", "${n('base64_blob')}"},
	{"${r.tok(ALNUM, 12)}", "${n('hex_digest')}", "${n('hex_digest', r.hex(40))}", "${n('base64_blob')}"},
}

func TestParseKey(t *testing.T) {
	block, _ := pem.Decode([]byte(testKey))
	if block == nil {
		t.Fatal("no PEM block")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		t.Fatal(err)
	}
}
`;
  return d;
}

// --------------------------------------------------------------------------- git

function gitDiffEnv(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const deployKey = privateKeyPem(r, 'openssh');
  d.t`diff --git a/.env.staging b/.env.staging
new file mode 100644
index 0000000..${r.hex(7)}
--- /dev/null
+++ b/.env.staging
@@ -0,0 +1,9 @@
+APP_ENV=staging
+DATABASE_URL=postgres://app_stg:${s('database_url')}@pg-stg.internal:5432/app
+STRIPE_SECRET_KEY=${s('stripe_key', 'test')}
+OPENAI_API_KEY=${s('openai_api_key')}
+SLACK_BOT_TOKEN=${s('slack_bot_token')}
+GITHUB_TOKEN=${s('github_pat_classic')}
+SENTRY_DSN=${n('sentry_dsn')}
+LOG_LEVEL=debug
+DAYTONA_API_KEY=${s('daytona_api_key')}
diff --git a/config/secrets.yml b/config/secrets.yml
index ${r.hex(7)}..${r.hex(7)} 100644
--- a/config/secrets.yml
+++ b/config/secrets.yml
@@ -3,10 +3,10 @@ production:
   adapter: postgresql
   host: pg-primary.internal
-  password: ${s('generic_secret')}
+  password: ${n('env_reference', "<%= ENV['DB_PASSWORD'] %>")}
-  stripe_key: ${s('stripe_key', 'live')}
+  stripe_key: ${n('env_reference', "<%= ENV['STRIPE_KEY'] %>")}
-  mailgun_key: ${s('mailgun_api_key')}
+  mailgun_key: ${n('env_reference', "<%= ENV['MAILGUN_KEY'] %>")}
   pool: 25
   timeout: 5000
diff --git a/deploy/id_deploy b/deploy/id_deploy
new file mode 100600
index 0000000..${r.hex(7)}
--- /dev/null
+++ b/deploy/id_deploy
@@ -0,0 +1,${deployKey.split('\n').length} @@
+${S('private_key', deployKey.replace(/\n/g, '\n+'))}
diff --git a/deploy/id_deploy.pub b/deploy/id_deploy.pub
new file mode 100644
index 0000000..${r.hex(7)}
--- /dev/null
+++ b/deploy/id_deploy.pub
@@ -0,0 +1 @@
+${n('ssh_public_key', sshPublicKey(r, 'ed25519'))} deploy@acme-ci
`;
  return d;
}

function gitLogP(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'];
  for (let c = 0; c < 14; c++) {
    const a = k.who();
    d.t`commit ${n('git_sha')}
Author: ${a.first} ${a.last} <${a.mail}>
Date:   ${r.pick(DAYS)} Nov ${r.int(1, 16)} ${pad2(r.int(8, 19))}:${pad2(r.int(0, 59))}:${pad2(r.int(0, 59))} 2026 +0${r.int(0, 2)}00

    ${r.pick(['fix', 'feat', 'chore', 'refactor'])}(${r.pick(WORDS)}): ${r.pick(['handle empty cart', 'rotate webhook secret', 'bump deps', 'drop legacy auth', 'add retry budget', 'cache product lookups'])}

`;
    const x = c % 5;
    if (x === 0) {
      d.t`diff --git a/src/config/defaults.ts b/src/config/defaults.ts
index ${r.hex(7)}..${r.hex(7)} 100644
--- a/src/config/defaults.ts
+++ b/src/config/defaults.ts
@@ -12,7 +12,7 @@ export const defaults = {
   retries: 3,
-  timeoutMs: 5000,
+  timeoutMs: 8000,
   userAgent: 'acme/${n('version_string')}',
-  anthropicKey: '${s('anthropic_api_key')}',
+  anthropicKey: process.env.ANTHROPIC_API_KEY,
 };

`;
    } else if (x === 1) {
      d.t`diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml
index ${r.hex(7)}..${r.hex(7)} 100644
--- a/.github/workflows/ci.yml
+++ b/.github/workflows/ci.yml
@@ -20,6 +20,8 @@ jobs:
       - uses: actions/checkout@${n('git_sha')} # v4.2.2
       - uses: actions/setup-node@${n('git_sha')} # v4.1.0
+        with:
+          registry-url: https://registry.npmjs.org
       - run: npm ci
         env:
           NODE_AUTH_TOKEN: ${n('env_reference', '${{ secrets.NPM_TOKEN }}')}

`;
    } else if (x === 2) {
      d.t`diff --git a/package.json b/package.json
index ${r.hex(7)}..${r.hex(7)} 100644
--- a/package.json
+++ b/package.json
@@ -1,6 +1,6 @@
 {
   "name": "@acme/billing",
-  "version": "${n('version_string')}",
+  "version": "${n('version_string')}",
   "private": true,
   "author": "${a.first} ${a.last} <${k.sv('email', a.email)}>",

`;
    } else if (x === 3) {
      d.t`diff --git a/scripts/seed.sql b/scripts/seed.sql
index ${r.hex(7)}..${r.hex(7)} 100644
--- a/scripts/seed.sql
+++ b/scripts/seed.sql
@@ -4,3 +4,4 @@ INSERT INTO users (email, role) VALUES
   ('${n('reserved_email')}', 'admin'),
   ('${k.s('email')}', 'member'),
+  ('${k.s('email')}', 'billing'),
+  ('${n('reserved_email')}', 'member');

`;
    } else {
      d.t`diff --git a/infra/terraform/main.tf b/infra/terraform/main.tf
index ${r.hex(7)}..${r.hex(7)} 100644
--- a/infra/terraform/main.tf
+++ b/infra/terraform/main.tf
@@ -1,8 +1,8 @@
 provider "aws" {
   region     = "eu-west-1"
-  access_key = "${s('aws_access_key_id')}"
-  secret_key = "${s('aws_secret_access_key', undefined, ['generic_secret'])}"
+  access_key = var.aws_access_key
+  secret_key = var.aws_secret_key
 }
 resource "aws_s3_bucket" "logs" {
   bucket = "acme-logs-${r.hex(8)}"

`;
    }
  }
  return d;
}

function gitShowStat(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  for (let c = 0; c < 7; c++) {
    const a = k.who();
    const b = k.who();
    d.t`commit ${n('git_sha')}${c % 4 === 0 ? ['\nMerge: ', n('git_sha', r.hex(9)), ' ', n('git_sha', r.hex(9))] : ''}
Author:     ${a.first} ${a.last} <${a.mail}>
AuthorDate: ${isoTime(Date.UTC(2026, 9, 1) + r.int(0, 40) * 86400000 + r.int(0, 86399) * 1000)}
Commit:     GitHub <${k.sv('email', 'noreply@github.com')}>
CommitDate: ${isoTime(Date.UTC(2026, 10, 1) + r.int(0, 16) * 86400000 + r.int(0, 86399) * 1000)}

    ${r.pick(['Merge pull request', 'Squash'])} #${r.int(1000, 9999)} ${r.pick(['invoices: PDF export', 'deps: bump', 'search: typo tolerance', 'auth: passkeys'])}

    Reviewed-on: https://review.acme-corp.io/c/billing/+/${r.int(10000, 99999)}
    Change-Id: I${n('git_sha')}
    Co-authored-by: ${b.first} ${b.last} <${b.mail}>
    Co-authored-by: dependabot[bot] <${n('not_an_email', '49699333+dependabot[bot]@users.noreply.github.com')}>
    Signed-off-by: ${a.first} ${a.last} <${k.sv('email', a.email)}>

 src/invoices/pdf.ts                | ${r.int(1, 200)} ${'+'.repeat(r.int(1, 30))}${'-'.repeat(r.int(0, 10))}
 src/invoices/__tests__/pdf.test.ts | ${r.int(1, 90)} ${'+'.repeat(r.int(1, 20))}
 package-lock.json                  | ${r.int(10, 900)} ${'+'.repeat(r.int(5, 30))}${'-'.repeat(r.int(5, 30))}
 ${r.int(2, 9)} files changed, ${r.int(10, 900)} insertions(+), ${r.int(0, 400)} deletions(-)

`;
  }
  return d;
}

const SYL = ['ab', 'ac', 'al', 'an', 'ar', 'ba', 'be', 'bo', 'ca', 'ce', 'co', 'da', 'de', 'di', 'el', 'en', 'fa', 'fi', 'ga', 'go', 'ha', 'in', 'is', 'ja', 'ka', 'la', 'le', 'li', 'lo', 'ma', 'me', 'mi', 'mo', 'na', 'ne', 'no', 'or', 'pa', 'pe', 'po', 'ra', 're', 'ri', 'ro', 'sa', 'se', 'si', 'so', 'ta', 'te', 'ti', 'to', 'un', 'va', 've', 'vi', 'xa', 'yo', 'za', 'zo'];
const pkgName = (r: Rng): string => {
  const base = Array.from({ length: r.int(2, 4) }, () => r.pick(SYL)).join('') + (r.chance(0.3) ? `-${r.pick(WORDS)}` : '');
  return r.chance(0.2) ? `@${r.pick(['babel', 'types', 'aws-sdk', 'smithy', 'jest', 'acme'])}/${base}` : base;
};

function lockEntry(r: Rng, n: Kit['n'], name: string, parts: Piece[], basicAuth?: Piece): Piece[] {
  const v = `${r.int(0, 12)}.${r.int(0, 30)}.${r.int(0, 20)}`;
  const short = name.split('/').pop()!;
  const registry: Piece = basicAuth ?? 'https://registry.npmjs.org';
  parts.push(
    `    "node_modules/${name}": {\n      "version": "`,
    n('version_string', v),
    '",\n      "resolved": "',
    registry,
    `/${name}/-/${short}-${v}.tgz",\n      "integrity": "`,
    r.chance(0.93) ? n('integrity_hash') : n('integrity_hash', `sha1-${r.bytes(20).toString('base64')}`),
    '",\n',
  );
  if (r.chance(0.4)) parts.push('      "dev": true,\n');
  if (r.chance(0.3)) parts.push(`      "dependencies": {\n        "${pkgName(r)}": "^${r.int(0, 9)}.${r.int(0, 20)}.0",\n        "${pkgName(r)}": "~${r.int(0, 9)}.${r.int(0, 20)}.${r.int(0, 9)}"\n      },\n`);
  if (r.chance(0.15)) parts.push(`      "engines": {\n        "node": ">=${r.pick([12, 14, 16, 18])}"\n      },\n`);
  parts.push(`      "license": "${r.pick(['MIT', 'MIT', 'ISC', 'Apache-2.0', 'BSD-3-Clause'])}"\n    }`);
  return parts;
}

function packageLock(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add(`{\n  "name": "billing-service",\n  "version": "3.14.2",\n  "lockfileVersion": 3,\n  "requires": true,\n  "packages": {\n    "": {\n      "name": "billing-service",\n      "version": "3.14.2",\n      "license": "UNLICENSED"\n    },\n`);
  const names = new Set<string>();
  while (names.size < 1050) names.add(pkgName(r));
  const list = [...names];
  list.forEach((name, i) => {
    const parts: Piece[] = [];
    const auth = i === 311 || i === 802 ? ['https://ci-bot:', s('basic_auth_url'), '@npm.acme-corp.io/repository/npm-group'] : undefined;
    lockEntry(r, n, name, parts, auth);
    d.add(parts, i === list.length - 1 ? '\n' : ',\n');
  });
  d.add('  }\n}\n');
  return d;
}

function goSum(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  const hosts = ['github.com', 'golang.org/x', 'google.golang.org', 'go.uber.org', 'gopkg.in', 'k8s.io', 'cloud.google.com/go', 'go.opentelemetry.io'];
  for (let i = 0; i < 430; i++) {
    const mod = `${r.pick(hosts)}/${r.pick(WORDS)}${r.chance(0.5) ? '-' + r.pick(WORDS) : ''}${r.chance(0.3) ? '/' + r.pick(WORDS) : ''}`;
    const v = `v${r.int(0, 3)}.${r.int(0, 40)}.${r.int(0, 20)}${r.chance(0.1) ? `-0.2026${r.int(1001, 1130)}${r.digits(6)}-${r.hex(12)}` : ''}`;
    d.add(mod, ' ', v, ' h1:', n('base64_blob', r.bytes(32).toString('base64')), '\n');
    d.add(mod, ' ', v, '/go.mod h1:', n('base64_blob', r.bytes(32).toString('base64')), '\n');
  }
  return d;
}

function poetryLock(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  d.add('# This file is automatically @generated by Poetry 1.8.4 and should not be changed by hand.\n\n');
  for (let i = 0; i < 90; i++) {
    const name = `${r.pick(WORDS)}${r.chance(0.5) ? '-' + r.pick(WORDS) : ''}`;
    const v = `${r.int(0, 5)}.${r.int(0, 30)}.${r.int(0, 9)}`;
    d.add('[[package]]\nname = "', name, '"\nversion = "', v, '"\ndescription = "', r.pick(['HTTP client', 'Fast JSON', 'Typing helpers', 'Date utilities', 'Retry decorators']), '"\noptional = false\npython-versions = ">=3.9"\nfiles = [\n');
    const nf = r.int(1, 4);
    for (let f = 0; f < nf; f++) d.add('    {file = "', name.replace(/-/g, '_'), '-', v, r.pick(['-py3-none-any.whl', '.tar.gz', '-cp312-cp312-manylinux_2_17_x86_64.whl']), '", hash = "sha256:', n('hex_digest'), '"},\n');
    d.add(']\n\n');
  }
  d.add('[metadata]\nlock-version = "2.0"\npython-versions = "^3.12"\ncontent-hash = "', n('hex_digest'), '"\n');
  return d;
}

// --------------------------------------------------------------------------- Docker, CI

function dockerfile(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# syntax=docker/dockerfile:1.7
FROM node:20-alpine@${n('docker_digest')} AS build
ARG NPM_TOKEN
WORKDIR /app
COPY package.json package-lock.json ./
RUN echo "//registry.npmjs.org/:_authToken=${n('env_reference', '${NPM_TOKEN}')}" > .npmrc && npm ci && rm -f .npmrc
COPY . .
RUN npm run build

FROM gcr.io/distroless/nodejs20-debian12@${n('docker_digest')}
ENV NODE_ENV=production \\
    SENTRY_DSN=${n('sentry_dsn')} \\
    HF_TOKEN=${s('huggingface_token')} \\
    DATABRICKS_TOKEN=${s('databricks_token')} \\
    GITLAB_TOKEN=${s('gitlab_token')}
COPY --from=build /app/dist /app
ADD --checksum=sha256:${n('hex_digest')} https://github.com/krallin/tini/releases/download/v0.19.0/tini /tini
LABEL org.opencontainers.image.revision="${n('git_sha')}" \\
      org.opencontainers.image.version="${n('version_string')}" \\
      maintainer="${k.s('email')}"
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/tini", "--", "/nodejs/bin/node", "/app/server.js"]
`;
  void r;
  return d;
}

function dockerHistory(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('$ docker history --no-trunc --format "{{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}" registry.acme-corp.io/api:latest\n');
  const rows: Piece[][] = [
    ['CMD ["node" "dist/server.js"]', '0B'],
    ['EXPOSE map[8080/tcp:{}]', '0B'],
    ['COPY dir:', n('hex_digest'), ' in /app ', '4.21MB'],
    ['RUN |2 NPM_TOKEN=', s('npm_token'), ' GITHUB_TOKEN=', s('github_pat_classic'), ' /bin/sh -c npm ci --omit=dev', '88.4MB'],
    ['ENV GITHUB_APP_TOKEN=', s('github_app_token'), '0B'],
    ['ENV STRIPE_KEY=', s('stripe_key', 'restricted'), '0B'],
    ['ARG GITHUB_TOKEN', '0B'],
    ['ARG NPM_TOKEN', '0B'],
    ['WORKDIR /app', '0B'],
    ['/bin/sh -c #(nop)  CMD ["node"]', '0B'],
    ['/bin/sh -c #(nop)  ENTRYPOINT ["docker-entrypoint.sh"]', '0B'],
    ['/bin/sh -c #(nop) COPY file:', n('hex_digest'), ' in /usr/local/bin/ ', '388B'],
    ['/bin/sh -c #(nop)  ENV YARN_VERSION=1.22.22', '0B'],
    ['/bin/sh -c #(nop)  ENV NODE_VERSION=20.18.1', '0B'],
    ['/bin/sh -c #(nop)  CMD ["/bin/sh"]', '0B'],
    ['/bin/sh -c #(nop) ADD file:', n('hex_digest'), ' in / ', '7.8MB'],
  ];
  for (const row of rows) {
    const size = row.pop()!;
    d.add(n('docker_digest'), '\t', `${r.int(2, 9)} weeks ago`, '\t', row, '\t', size, '\n');
  }
  return d;
}

function githubWorkflow(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`name: deploy
on:
  push:
    branches: [main]
  workflow_dispatch: {}
permissions:
  contents: read
  id-token: write
env:
  REGISTRY: ghcr.io
  SLACK_WEBHOOK: ${s('slack_webhook')}
  DAYTONA_API_KEY: ${s('daytona_api_key')}
jobs:
  deploy:
    runs-on: ubuntu-24.04
    environment: production
    steps:
      - uses: actions/checkout@${n('git_sha')} # v4.2.2
      - uses: aws-actions/configure-aws-credentials@${n('git_sha')} # v4.0.2
        with:
          role-to-assume: arn:aws:iam::${n('public_id', k.r.digits(12))}:role/gha-deploy
          aws-region: eu-west-1
      - uses: docker/login-action@${n('git_sha')}
        with:
          registry: ghcr.io
          username: \${{ github.actor }}
          password: ${n('env_reference', '${{ secrets.GITHUB_TOKEN }}')}
      - name: Deploy
        run: ./scripts/deploy.sh production
        env:
          OPENAI_API_KEY: ${n('env_reference', '${{ secrets.OPENAI_API_KEY }}')}
          NPM_TOKEN: ${n('env_reference', '${{ secrets.NPM_TOKEN }}')}
          ANTHROPIC_API_KEY: ${s('anthropic_api_key')}
      - name: Notify
        if: always()
        run: |
          curl -fsS -X POST -H 'Content-type: application/json' --data '{"text":"deployed \${{ github.sha }}"}' "$SLACK_WEBHOOK"
`;
  return d;
}

function gitlabCi(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`stages: [test, build, publish]

variables:
  DOCKER_DRIVER: overlay2
  PIP_CACHE_DIR: "$CI_PROJECT_DIR/.cache/pip"
  RENOVATE_TOKEN: ${s('gitlab_token')}
  TWINE_PASSWORD: ${s('pypi_token')}
  TWINE_USERNAME: __token__

test:
  stage: test
  image: python:3.12-slim@${n('docker_digest')}
  script:
    - pip install -r requirements-dev.txt
    - pytest -q

build:
  stage: build
  image: docker:27
  services: [docker:27-dind]
  script:
    - docker login -u gitlab-ci-token -p ${n('env_reference', '$CI_JOB_TOKEN')} $CI_REGISTRY
    - docker build -t $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA .
    - docker push $CI_REGISTRY_IMAGE:$CI_COMMIT_SHORT_SHA

publish:
  stage: publish
  image: python:3.12-slim
  script:
    - python -m build
    - twine upload --repository-url https://upload.pypi.org/legacy/ dist/*
    - curl --fail -H "PRIVATE-TOKEN: ${n('env_reference', '$GITLAB_API_TOKEN')}" "$CI_API_V4_URL/projects/$CI_PROJECT_ID/releases"
    - git push https://release-bot:${s('gitlab_token', undefined, ['basic_auth_url'])}@gitlab.com/acme/sdk-python.git --tags
  only: [tags]
`;
  return d;
}

function jenkinsfile(k: Kit): Doc {
  const { s, n } = k;
  const d = new Doc();
  d.t`pipeline {
  agent { label 'linux-docker' }
  environment {
    NEXUS_CREDS = credentials('nexus-deploy')
    SLACK_TOKEN = '${s('slack_bot_token')}'
    AZURE_STORAGE_CONNECTION_STRING = 'DefaultEndpointsProtocol=https;AccountName=acmebuilds;AccountKey=${s('azure_storage_key')};EndpointSuffix=core.windows.net'
  }
  stages {
    stage('Build') {
      steps {
        sh './gradlew build -x test'
      }
    }
    stage('Publish') {
      steps {
        withCredentials([usernamePassword(credentialsId: 'git-push', usernameVariable: 'GIT_USER', passwordVariable: 'GIT_PASS')]) {
          sh 'git push https://$GIT_USER:$GIT_PASS@git.acme-corp.io/platform/ledger.git HEAD:release'
        }
        sh "git push https://jenkins:${s('basic_auth_url')}@git.acme-corp.io/platform/ledger-docs.git HEAD:gh-pages"
        sh "curl -fsS -u admin:${n('env_reference', '${NEXUS_CREDS_PSW}')} -T build/libs/ledger.jar https://nexus.acme-corp.io/repository/releases/"
      }
    }
  }
  post {
    failure {
      slackSend channel: '#builds', color: '${n('hex_color')}', message: "Build failed: \${env.BUILD_URL}"
    }
  }
}
`;
  return d;
}

// --------------------------------------------------------------------------- SSH, certificates

function knownHosts(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  const hosts = ['github.com', 'gitlab.com', 'bitbucket.org', 'bastion-01.acme-corp.io', 'git.acme-corp.io', '10.0.1.5', '[ssh.github.com]:443'];
  for (let i = 0; i < 60; i++) {
    const kind = r.pick(['ed25519', 'rsa', 'ecdsa'] as const);
    if (r.chance(0.65)) d.add('|1|', n('base64_blob', r.bytes(20).toString('base64')), '|', n('base64_blob', r.bytes(20).toString('base64')), ' ', n('ssh_public_key', sshPublicKey(r, kind)), '\n');
    else d.add(r.pick(hosts), r.chance(0.3) ? `,${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}` : '', ' ', n('ssh_public_key', sshPublicKey(r, kind)), '\n');
  }
  return d;
}

function authorizedKeys(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  d.add('# managed by ansible — do not edit\n');
  for (let i = 0; i < 26; i++) {
    const x = r.next();
    const opts = x < 0.2 ? `restrict,from="${r.int(10, 10)}.0.0.0/8",command="/usr/local/bin/backup-only" ` : x < 0.3 ? 'no-port-forwarding,no-X11-forwarding,no-agent-forwarding ' : '';
    const key = n('ssh_public_key', sshPublicKey(r, r.pick(['ed25519', 'ed25519', 'rsa', 'ecdsa'] as const)));
    const who = k.who();
    const comment: Piece = r.chance(0.35) ? who.mail : n('not_an_email', `${who.first.toLowerCase().replace(/[^a-z]/g, '')}@${r.pick(['laptop', 'workstation', 'MacBook-Pro.local', 'ci-runner-03', 'build'])}`);
    d.add(opts, key, ' ', comment, '\n');
  }
  return d;
}

function catSshKeys(k: Kit): Doc {
  const { r, s, n } = k;
  const me = k.who();
  const d = new Doc();
  d.t`$ ls -la ~/.ssh
total 32
drwx------  2 dev dev 4096 Nov 17 09:12 .
-rw-------  1 dev dev  411 Nov 17 09:12 id_ed25519
-rw-r--r--  1 dev dev  102 Nov 17 09:12 id_ed25519.pub
-rw-------  1 dev dev 1766 Mar  2  2024 id_rsa
-rw-r--r--  1 dev dev 2202 Nov 16 18:40 known_hosts
$ cat ~/.ssh/id_ed25519
${s('private_key', 'openssh')}
$ cat ~/.ssh/id_ed25519.pub
${n('ssh_public_key', sshPublicKey(r, 'ed25519'))} ${me.mail}
$ ssh-keygen -lf ~/.ssh/id_ed25519.pub
256 ${n('ssh_fingerprint')} ${k.sv('email', me.email)} (ED25519)
$ cat ~/.ssh/id_rsa
${s('private_key', 'rsa-legacy-encrypted')}
$ ssh-keygen -y -f ~/.ssh/id_rsa
Enter passphrase:
${n('ssh_public_key', sshPublicKey(r, 'rsa'))}
`;
  return d;
}

function bundlePem(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  const pub = `${pemHead('PUBLIC KEY')}\n${r.bytes(294).toString('base64').match(/.{1,64}/g)!.join('\n')}\n${pemTail('PUBLIC KEY')}`;
  d.t`# server.pem — leaf, intermediate, key (nginx ssl_certificate + ssl_certificate_key in one file)
subject=CN = api.acme-corp.io
issuer=C = US, O = Let's Encrypt, CN = R11
${n('x509_certificate')}
subject=C = US, O = Let's Encrypt, CN = R11
issuer=C = US, O = Internet Security Research Group, CN = ISRG Root X1
${n('x509_certificate')}
${s('private_key', 'pkcs8')}
# signing key for webhooks
${s('private_key', 'ec')}
# its public half
${n('x509_certificate', pub)}
# archived, passphrase in the vault
${s('private_key', 'encrypted')}
`;
  return d;
}

function opensslText(k: Kit): Doc {
  const { r, n } = k;
  const colonHex = (bytes: number, perLine: number, indent: string) =>
    r.str(HEX, bytes * 2).match(/../g)!.reduce((acc: string[], b, i) => {
      if (i % perLine === 0) acc.push('');
      acc[acc.length - 1] += b + ':';
      return acc;
    }, []).map((l) => indent + l).join('\n').replace(/:$/, '');
  const d = new Doc();
  d.t`$ openssl x509 -in server.crt -text -noout
Certificate:
    Data:
        Version: 3 (0x2)
        Serial Number:
            ${n('hex_digest', r.str(HEX, 36).match(/../g)!.join(':'))}
        Signature Algorithm: sha256WithRSAEncryption
        Issuer: C = DE, O = Acme Corp, OU = PKI, CN = Acme Issuing CA 2, emailAddress = ${k.s('email')}
        Validity
            Not Before: Nov  1 00:00:00 2026 GMT
            Not After : Nov  1 23:59:59 2027 GMT
        Subject: C = DE, L = Berlin, O = Acme Corp, CN = api.acme-corp.io
        Subject Public Key Info:
            Public Key Algorithm: rsaEncryption
                Public-Key: (2048 bit)
                Modulus:
${colonHex(257, 15, '                    ')}
                Exponent: 65537 (0x10001)
        X509v3 extensions:
            X509v3 Subject Key Identifier:
                ${n('hex_digest', r.str(HEX.toUpperCase(), 40).match(/../g)!.join(':'))}
            X509v3 Authority Key Identifier:
                ${n('hex_digest', r.str(HEX.toUpperCase(), 40).match(/../g)!.join(':'))}
            X509v3 Subject Alternative Name:
                DNS:api.acme-corp.io, DNS:*.api.acme-corp.io, IP Address:${n('ip_address')}
            X509v3 Key Usage: critical
                Digital Signature, Key Encipherment
            Authority Information Access:
                CA Issuers - URI:http://pki.acme-corp.io/issuing-ca-2.crt
    Signature Algorithm: sha256WithRSAEncryption
    Signature Value:
${colonHex(256, 18, '        ')}
$ openssl x509 -in server.crt -noout -fingerprint -sha256
sha256 Fingerprint=${n('hex_digest', r.str(HEX.toUpperCase(), 64).match(/../g)!.join(':'))}
$ openssl x509 -in server.crt -noout -serial -dates
serial=${n('hex_digest', r.str(HEX.toUpperCase(), 36))}
notBefore=Nov  1 00:00:00 2026 GMT
notAfter=Nov  1 23:59:59 2027 GMT
`;
  return d;
}

// --------------------------------------------------------------------------- documentation

function readmeApi(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  d.t`# Acme Payments API — quick start 🚀

[![build](https://ci.acme-corp.io/badge/${n('hex_digest', r.hex(32))}.svg)](https://ci.acme-corp.io)

## Authentication

Every request needs your secret key in the \`Authorization\` header:

\`\`\`bash
curl https://api.acme-pay.dev/v1/charges \\
  -H "Authorization: Bearer $ACME_SECRET_KEY" \\
  -d amount=2000 -d currency=eur
\`\`\`

Keys look like \`${n('placeholder', PFX.skLive + '…')}\` (live) or \`${n('placeholder', PFX.skTest + '…')}\` (test). Never put them in client code;
the publishable key (\`${n('placeholder', PFX.pkLive + '…')}\`) is safe to embed.

| variable | example |
|---|---|
| \`ACME_SECRET_KEY\` | \`${n('placeholder', '<your-secret-key>')}\` |
| \`AWS_ACCESS_KEY_ID\` | \`${n('aws_documented_example', 'AKIAIOSFODNN7EXAMPLE')}\` |
| \`AWS_SECRET_ACCESS_KEY\` | \`${n('aws_documented_example', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')}\` |
| \`GITHUB_TOKEN\` | \`${n('placeholder', PFX.ghp + 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')}\` |
| \`OPENAI_API_KEY\` | \`${n('placeholder', '${OPENAI_API_KEY}')}\` |
| \`DATABASE_URL\` | \`postgres://app:${n('placeholder', '<password>')}@localhost:5432/app\` |

## Test data

Use these in test mode; they never move money:

- card \`${n('documented_example', '4242 4242 4242 4242')}\`, any future expiry, any CVC
- card \`${n('documented_example', '4000 0000 0000 9995')}\` (declined: insufficient funds)
- IBAN \`${n('documented_example', 'DE89 3704 0044 0532 0130 00')}\` (SEPA debit succeeds)
- SSN for identity checks: \`${n('ssn_invalid', '123-45-6789')}\`
- phone \`${n('documented_example', '+1 555-0100')}\`
- e-mail \`${n('reserved_email', 'customer@example.com')}\`

## Webhooks

Signatures use HMAC-SHA256; the example payload below hashes to
\`${n('hex_digest')}\` with the secret \`${n('placeholder', 'whsec_test_secret')}\`.

\`\`\`json
{"id": "evt_${r.tok(ALNUM, 24)}", "type": "charge.succeeded", "created": ${n('timestamp')}, "data": {"object": {"id": "ch_${r.tok(ALNUM, 24)}", "amount": 2000, "currency": "eur"}}}
\`\`\`

## Support

Questions: ${k.s('email')} (maintainer) — ticket SLAs in SUPPORT.md. Version ${n('version_string')}, build ${n('build_number')}.
`;
  return d;
}

function changelog(k: Kit): Doc {
  const { r, n } = k;
  const d = new Doc();
  d.add('# Changelog\n\nAll notable changes to this project are documented here. Format: Keep a Changelog; versions: SemVer.\n\n');
  for (let i = 0; i < 30; i++) {
    d.t`## [${n('version_string', `${3 - Math.floor(i / 12)}.${14 - (i % 12)}.${r.int(0, 5)}`)}] — 2026-${pad2(11 - Math.floor(i / 3))}-${pad2(r.int(1, 28))}

### ${r.pick(['Added', 'Fixed', 'Changed', 'Security'])}
- ${r.pick(['Retry budget for outbound webhooks', 'PDF invoices render non-Latin names (Łódź, 東京)', 'Rotate signing keys without downtime', 'Drop Node 18', 'SEPA export validates IBAN checksums', 'Redact tokens in debug logs'])} (#${r.int(1000, 9999)}, ${n('git_sha', r.hex(7))})
- ${r.pick(['Bump undici to', 'Bump express to', 'Bump pg to'])} ${n('version_string')} (${n('git_sha', r.hex(7))})
${i % 4 === 0 ? ['- Thanks to ', k.who().mail, ' for the report\n'] : ''}
`;
  }
  return d;
}

function setupGuide(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`# Developer setup

1. Install Node 20 and Docker.
2. Copy \`.env.example\` to \`.env\` and fill in:
   - \`OPENAI_API_KEY=${n('placeholder', 'sk-proj-XXXXXXXXXXXXXXXX')}\`
   - \`ANTHROPIC_API_KEY=${n('placeholder', 'sk-ant-...')}\`
   - \`SLACK_BOT_TOKEN=${n('placeholder', PFX.xoxb + '...')}\`
   - \`DATABASE_URL=postgres://dev:${n('env_reference', '${DB_PASSWORD}')}@localhost:5432/dev\`
3. \`docker compose up -d\` and \`npm run dev\`.

> **Note:** tokens are shown once. Store them in 1Password, vault \`Engineering\`.

## Troubleshooting

**401 from GitHub packages.** Check that your token has \`read:packages\`:

\`\`\`
$ npm whoami --registry https://npm.pkg.github.com
npm error code E401
npm error 401 Unauthorized - GET https://npm.pkg.github.com/-/whoami - token ${s('github_pat_classic')} is not valid
\`\`\`

(Pasted by ${k.who().mail} in #dev-help; the token was revoked the same day.)

**Hugging Face downloads fail.** Set \`HF_TOKEN=${n('placeholder', PFX.hf + '<your token>')}\`, or log in:

\`\`\`
$ huggingface-cli login --token ${s('huggingface_token')}
Token is valid (permission: read).
Your token has been saved to /home/dev/.cache/huggingface/token
\`\`\`

**Slack notifications.** The webhook lives in the vault; a working one for the sandbox workspace is
\`${s('slack_webhook')}\`.

**Colours in the dashboard look off.** The palette is \`${n('hex_color')}\` / \`${n('hex_color')}\`; clear the cache (${n('uuid')}).

Version matrix: Node ${n('version_string')}, Postgres 16.4, Redis 7.4 — last checked ${isoTime(Date.UTC(2026, 10, 12, 9, 30, 0))} (${r.pick(['Łukasz', 'Zoë', 'José'])}).
`;
  return d;
}

// --------------------------------------------------------------------------- data exports

function customersCsv(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('id,name,email,phone,country,signup_date,legacy_card,postcode,referral_code\n');
  for (let i = 0; i < 36; i++) {
    const p = k.who();
    const card: Piece = i % 9 === 4 ? s('credit_card', r.pick(['none', 'dash'])) : i % 9 === 7 ? n('card_luhn_invalid') : '';
    d.add(
      String(10000 + i), ',"', `${p.last}, ${p.first}`, '",', p.mail, ',', r.chance(0.5) ? s('phone') : '', ',', r.pick(['US', 'DE', 'FR', 'GB', 'JP', 'BR']), ',',
      `2026-${pad2(r.int(1, 11))}-${pad2(r.int(1, 28))}`, ',', card, ',', r.digits(5), ',', r.str(UPPER + DIGITS, 8), '\n',
    );
  }
  return d;
}

function payrollCsv(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('employee_id;full_name;ssn;iban;bic;gross_monthly;currency\n');
  for (let i = 0; i < 26; i++) {
    const p = k.who();
    const ssnCell = i % 13 === 6 ? n('ssn_invalid') : s('us_ssn');
    const ibanCell = i % 10 === 3 ? n('iban_bad_checksum') : s('iban');
    d.add(`E${r.digits(6)};${p.first} ${p.last};`, ssnCell, ';', ibanCell, ';', `${r.str(UPPER, 4)}${r.pick(['DE', 'FR', 'NL', 'GB'])}${r.str(UPPER + DIGITS, 2)}`, ';', `${r.int(3000, 12000)},${pad2(r.int(0, 99))}`, ';EUR\n');
  }
  return d;
}

function usersDumpSql(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('-- PostgreSQL database dump\n-- Dumped from database version 16.4\n\nSET statement_timeout = 0;\nSET client_encoding = \'UTF8\';\n\nCOPY public.users (id, email, password_hash, phone, api_token_sha256, created_at) FROM stdin;\n');
  for (let i = 0; i < 25; i++) {
    const p = k.who();
    d.add(n('uuid'), '\t', p.mail, '\t', n('password_hash'), '\t', r.chance(0.5) ? s('phone') : '\\N', '\t', n('hex_digest'), '\t', `2026-${pad2(r.int(1, 11))}-${pad2(r.int(1, 28))} ${pad2(r.int(0, 23))}:${pad2(r.int(0, 59))}:${pad2(r.int(0, 59))}.${r.digits(6)}+00`, '\n');
  }
  d.add('\\.\n\nCOPY public.api_clients (id, name, upstream_api_key, webhook_url) FROM stdin;\n');
  const upstream = ['stripe_key', 'sendgrid_api_key', 'openai_api_key', 'mailgun_api_key', 'shopify_token', 'square_token'] as const;
  for (let i = 0; i < 6; i++) d.add(String(i + 1), '\t', r.pick(WORDS), '-integration\t', s(upstream[i]!), '\t', r.chance(0.5) ? s('slack_webhook') : 'https://hooks.acme-corp.io/in/' + r.hex(16), '\n');
  d.add('\\.\n\nSELECT pg_catalog.setval(\'public.api_clients_id_seq\', 6, true);\n');
  return d;
}

function transactionsTsv(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.add('booking_date\tvalue_date\tamount\tcurrency\tcounterparty\tcounterparty_iban\tremittance\tend_to_end_id\n');
  const rf = () => {
    const ref = r.str(UPPER + DIGITS, r.int(8, 14));
    const rem = ibanMod97('RF00' + ref);
    return `RF${String(98 - rem).padStart(2, '0')}${ref}`;
  };
  for (let i = 0; i < 60; i++) {
    const day = `2026-${pad2(r.int(9, 11))}-${pad2(r.int(1, 28))}`;
    const x = r.next();
    const cp: Piece = x < 0.6 ? s('iban', r.chance(0.5) ? 'grouped' : 'compact') : x < 0.75 ? n('iban_bad_checksum') : '';
    d.add(day, '\t', day, '\t', `${r.chance(0.5) ? '-' : ''}${r.int(1, 9000)}.${pad2(r.int(0, 99))}`, '\tEUR\t', r.pick(['Stadtwerke München', 'ACME GmbH', 'Société Générale', 'Müller & Söhne KG', 'Café Zoë', 'HMRC', 'Amazon EU SARL']), '\t', cp, '\t', r.chance(0.3) ? n('public_id', rf()) : `INV-${r.int(100000, 999999)}`, '\t', r.tok(UPPER + DIGITS, 16), '\n');
  }
  return d;
}

// --------------------------------------------------------------------------- shell

function bashHistory(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`cd ~/src/acme/infra
git pull --rebase
gh auth login --with-token <<< ${s('github_oauth')}
export GH_TOKEN=${s('github_pat_fine_grained')}
git clone https://${s('github_pat_fine_grained')}@github.com/acme-corp/secrets-rotation.git
git clone https://deploy:${s('basic_auth_url')}@git.acme-corp.io/platform/ledger.git
npm config set //registry.npmjs.org/:_authToken ${s('npm_token')}
npm publish --access public
twine upload -u __token__ -p ${s('pypi_token')} dist/*
pip install --index-url https://ci:${s('basic_auth_url')}@pypi.acme-corp.io/simple acme-internal==${n('version_string')}
echo ${s('dockerhub_token')} | docker login -u acmebot --password-stdin
docker run --rm -e HTTPS_PROXY=http://proxyuser:${s('basic_auth_url')}@proxy.acme-corp.io:3128 alpine wget -qO- https://ifconfig.me
curl -s -H "Authorization: Bearer ${s('slack_user_token')}" https://slack.com/api/users.list | jq '.members | length'
curl -s -X POST -H "Authorization: Bearer ${s('slack_app_token')}" https://slack.com/api/apps.connections.open
export SLACK_BOT_TOKEN=${s('slack_bot_token')}
kubectl -n auth create secret generic gh-oauth --from-literal=client_secret=${s('generic_secret')} --from-literal=refresh_token=${s('github_refresh_token')}
curl -s -X POST https://github.com/login/oauth/access_token -d client_id=Iv1.${r.hex(16)} -d grant_type=refresh_token -d refresh_token=${s('github_refresh_token')}
export DAYTONA_API_KEY=${s('daytona_api_key')}
daytona sandbox list
az storage blob list --account-name acmearchive --account-key ${s('azure_storage_key')} -c invoices -o table
az servicebus queue list --connection-string "Endpoint=sb://acme-orders.servicebus.windows.net/;SharedAccessKeyName=ops;SharedAccessKey=${s('azure_connection_string')}"
psql postgres://admin:${s('database_url')}@pg-primary.internal/app -c '\\dt'
mongosh "mongodb://root:${s('database_url')}@mongo-0.mongo.svc:27017/admin?authSource=admin"
ssh-keygen -t ed25519 -C "${k.s('email')}"
shopify app env show
export SHOPIFY_API_SECRET=${s('shopify_token')}
export PYPI_API_TOKEN=${s('pypi_token')}
docker login -u acmebot -p ${s('dockerhub_token')} docker.io
git log --oneline -5
git checkout ${n('git_sha', r.hex(7))}
history | grep -i token
`;
  return d;
}

function terminalSession(k: Kit): Doc {
  const { r, s, n } = k;
  const d = new Doc();
  d.t`dev@ws-${r.int(10, 99)}:~/acme/gh-app$ gh auth status -t
github.com
  ✓ Logged in to github.com account acme-dev (keyring)
  - Active account: true
  - Git operations protocol: https
  - Token: ${s('github_oauth')}
  - Token scopes: 'gist', 'read:org', 'repo', 'workflow'
dev@ws:~/acme/gh-app$ gh auth token
${s('github_oauth')}
dev@ws:~/acme/gh-app$ ls
app.yml  github-app.private-key.pem  node_modules  package.json
dev@ws:~/acme/gh-app$ cat github-app.private-key.pem
${s('private_key', 'rsa')}
dev@ws:~/acme/gh-app$ kubectl -n ingress get secret api-tls -o jsonpath='{.data.tls\\.key}' | base64 -d
${s('private_key', 'pkcs8')}
dev@ws:~/acme/gh-app$ kubectl -n ingress get secret api-tls -o jsonpath='{.data.tls\\.crt}' | base64 -d | head -3
${pemHead('CERTIFICATE')}
${n('base64_blob', r.bytes(48).toString('base64'))}
${n('base64_blob', r.bytes(48).toString('base64'))}
dev@ws:~/acme/gh-app$ slack-cli auth list
acme-corp (T${r.tok('ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)})  user: ${s('slack_user_token')}  expires: never
dev@ws:~/acme/gh-app$ echo $SESSION_ID
${n('uuid')}
dev@ws:~/acme/gh-app$ date +%s
${n('timestamp')}
`;
  return d;
}

export const CODE_DOCS: readonly DocSpec[] = [
  { path: 'shell/bash_history.txt', context: 'shell history (~/.bash_history)', build: bashHistory },
  { path: 'shell/terminal-session.txt', context: 'terminal session: gh auth status -t, cat of key files', build: terminalSession },
  { path: 'src/server.js', context: 'JavaScript source with hard-coded keys', build: serverJs },
  { path: 'src/settings.py', context: 'Python (Django settings)', build: settingsPy },
  { path: 'src/main.go', context: 'Go source: constants and a DSN', build: mainGo },
  { path: 'src/deploy.sh', context: 'shell script: logins, exports, CLI tokens', build: deploySh },
  { path: 'src/test_fixtures.py', context: 'Python test fixtures: placeholders and documented examples only', build: testFixturesPy },
  { path: 'src/StoreMap.tsx', context: 'TSX component: browser key, colours, a base64 data URI', build: componentsTsx },
  { path: 'src/store_sync.rb', context: 'Ruby source: Shopify, Square, Mailgun', build: shopifyRb },
  { path: 'src/sign_test.go', context: 'Go test: an embedded test RSA key, hash vectors', build: cryptoTestGo },
  { path: 'git/diff-add-env.patch', context: 'git diff adding .env, moving secrets to ENV, adding a deploy key', build: gitDiffEnv },
  { path: 'git/log-p.txt', context: '`git log -p`: authors, removed secrets', build: gitLogP },
  { path: 'git/show-stat.txt', context: '`git show --stat` with trailers', build: gitShowStat },
  { path: 'lock/package-lock.json', context: 'package-lock.json (integrity hashes; a private registry URL with credentials)', build: packageLock },
  { path: 'lock/go.sum', context: 'go.sum', build: goSum },
  { path: 'lock/poetry.lock', context: 'poetry.lock (sha256 hashes)', build: poetryLock },
  { path: 'docker/Dockerfile', context: 'Dockerfile: build args, ENV with tokens, digests', build: dockerfile },
  { path: 'docker/docker-history.txt', context: '`docker history --no-trunc`: build args in layers', build: dockerHistory },
  { path: 'ci/github-workflow.yml', context: 'GitHub Actions workflow: ${{ secrets.* }}, pinned SHAs', build: githubWorkflow },
  { path: 'ci/gitlab-ci.yml', context: '.gitlab-ci.yml: variables, $CI_JOB_TOKEN', build: gitlabCi },
  { path: 'ci/Jenkinsfile', context: 'Jenkinsfile: credentials(), URLs with passwords', build: jenkinsfile },
  { path: 'ssh/known_hosts', context: 'SSH known_hosts (hashed and plain)', build: knownHosts },
  { path: 'ssh/authorized_keys', context: 'SSH authorized_keys with options and comments', build: authorizedKeys },
  { path: 'ssh/cat-keys.txt', context: 'terminal: cat ~/.ssh/* (private and public keys)', build: catSshKeys },
  { path: 'certs/server-bundle.pem', context: 'PEM bundle: certificates, private keys, a public key', build: bundlePem },
  { path: 'certs/openssl-x509-text.txt', context: '`openssl x509 -text` output', build: opensslText },
  { path: 'docs/README-api.md', context: 'README with documented example keys and test data', build: readmeApi },
  { path: 'docs/CHANGELOG.md', context: 'CHANGELOG: versions, SHAs, contributor e-mails', build: changelog },
  { path: 'docs/setup-guide.md', context: 'Markdown setup guide: placeholders and pasted real tokens', build: setupGuide },
  { path: 'data/customers.csv', context: 'CSV customer export', build: customersCsv },
  { path: 'data/payroll.csv', context: 'CSV payroll export (semicolons): SSNs, IBANs', build: payrollCsv },
  { path: 'data/users-dump.sql', context: 'SQL dump (COPY): e-mails, bcrypt hashes, stored upstream API keys', build: usersDumpSql },
  { path: 'data/transactions.tsv', context: 'TSV bank transactions: IBANs, RF creditor references', build: transactionsTsv },
];

