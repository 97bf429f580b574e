#!/usr/bin/env bash
# Installs what the tests run against that NuGet does not bring: the FHIR test server's npm packages, Mosquitto and
# its clients (the tests run the README's `mosquitto_pub` line against the embedded broker).
# Idempotent; needs root (or sudo) for apt only when something is missing.
set -euo pipefail
cd "$(dirname "$0")"
(cd fhir-test-server && npm ci --no-audit --no-fund --loglevel=error)
missing=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts a system broker on 1883; the tests start their own on free ports.
  ($sudo systemctl disable --now mosquitto || $sudo service mosquitto stop || true) >/dev/null 2>&1
fi
