#!/usr/bin/env bash
# Installs what the tests run against that NuGet does not bring: the FHIR test server's npm packages and Mosquitto.
# Idempotent; needs root (or sudo) for apt only when Mosquitto is missing.
set -euo pipefail
cd "$(dirname "$0")"
(cd fhir-test-server && npm ci --no-audit --no-fund --loglevel=error)
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
  # The package starts a system broker on 1883; the tests start their own on free ports.
  ($sudo systemctl disable --now mosquitto || $sudo service mosquitto stop || true) >/dev/null 2>&1
fi
