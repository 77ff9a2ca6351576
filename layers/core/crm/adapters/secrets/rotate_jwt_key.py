"""Rotate the access-token signing key: `python -m crm.adapters.secrets.rotate_jwt_key
--secret-id <JwtSigningKeySecret ARN or name>` (AWS credentials and region from the usual
environment; AWS_ENDPOINT_URL points it at the local cloud's moto)."""

from __future__ import annotations

import argparse

import boto3

from crm.adapters.secrets.jwt_keys import rotate_signing_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm.adapters.secrets.rotate_jwt_key")
    parser.add_argument("--secret-id", required=True)
    args = parser.parse_args(argv)
    kid = rotate_signing_key(boto3.client("secretsmanager"), args.secret_id)
    print(f"active signing key is now {kid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
