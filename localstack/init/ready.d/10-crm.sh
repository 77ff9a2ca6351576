#!/usr/bin/env bash
# LocalStack ready hook: what the functions read before any request. Idempotent (a restart
# re-runs it). The JWT key set is written as on a deploy, by the key-set function's code:
#   AWS_ENDPOINT_URL=http://127.0.0.1:4566 python -c \
#     "from crm import bootstrap; print(bootstrap.jwt_key_set_store('crm-jwt').ensure())"
set -euo pipefail
stage="${CRM_STAGE:-local}"
sender="${CRM_MAIL_FROM:-no-reply@crm.local}"

secret() { # name, JSON value
    awslocal secretsmanager describe-secret --secret-id "$1" >/dev/null 2>&1 ||
        awslocal secretsmanager create-secret --name "$1" --secret-string "$2" >/dev/null
}
random_key() { head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 64; }

secret crm-jwt "not-a-key-set-yet"
secret crm-mfa-key "$(random_key)"
secret crm-webhook-key "$(random_key)"
secret crm-db-app '{"username": "crm_app", "password": "crm_app"}'
secret crm-db-relay '{"username": "crm_relay", "password": "crm_relay"}'

awslocal s3api head-bucket --bucket "crm-imports-$stage" 2>/dev/null ||
    awslocal s3api create-bucket --bucket "crm-imports-$stage" >/dev/null
awslocal ses verify-email-identity --email-address "$sender"
echo "crm: LocalStack resources ready (stage $stage)"
