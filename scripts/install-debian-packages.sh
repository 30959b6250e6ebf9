#!/usr/bin/env bash
# Install the Debian packages the project needs, only those missing. Safe to run again.
# Needs root (or sudo) when something is missing.
set -euo pipefail

packages=(
    # build of pyscard (no Linux wheel on PyPI) and the virtual environment
    gcc swig libpcsclite-dev python3-dev python3-venv
    # smart-card middleware and the virtual reader driver the card simulator connects to
    pcscd vsmartcard-vpcd
    # shared quota counters of gateway replicas (the tests start their own redis-server)
    redis-server
    # the fleet service's history at scale (the tests start their own server on loopback)
    postgresql
    # MQTT broker of the kiosk telemetry and remote commands (tests start their own); its own
    # clients and openssl's s_client prove its ACL and TLS in the tests
    mosquitto mosquitto-clients openssl
    # headless browser of the kiosk UI tests (driven by Playwright; never its own download)
    chromium
    # the kiosk's spoken prompts, made once from fixed texts into build/voice (never at run time
    # from a network service; no personal data is ever spoken)
    espeak-ng
    # the semester report's tests read its PDF (pdftotext) and render a page (pdftoppm)
    poppler-utils
    # the kiosk's and the device CA's keys live in a PKCS#11 token: SoftHSM2 in the tests and the
    # simulated stack; OpenSSL 3's pkcs11-provider (bookworm-backports, see below) lets TLS use them
    softhsm2 pkcs11-provider
    # strongSwan's EST client, the enrolment server's interop test (its HTTP fetcher is the curl
    # plugin, its crypto the openssl plugin: the two plugin packages)
    strongswan-pki libstrongswan-extra-plugins libstrongswan-standard-plugins
)
if [ "$#" -gt 0 ]; then packages+=("$@"); fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "Installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
else
    echo "error: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "       run 'make' as root, or install them with apt-get first." >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt_get=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600)

# pkcs11-provider is in Debian from trixie on; on bookworm (Debian, and Raspberry Pi OS, whose
# 64-bit edition uses Debian's own archive) it comes from bookworm-backports. The pin lets that
# one package, and nothing else, come from there.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" = bookworm ] && printf '%s\n' "${missing[@]}" | grep -qx pkcs11-provider; then
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        keyring=/usr/share/keyrings/debian-archive-keyring.gpg
        if [ ! -e "$keyring" ]; then
            "${apt_get[@]}" update -qq
            "${apt_get[@]}" install -y -qq --no-install-recommends debian-archive-keyring
        fi
        "${sudo[@]}" tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: $keyring
SOURCES
    fi
    "${sudo[@]}" tee /etc/apt/preferences.d/kiosk-backports >/dev/null <<'PIN'
# Only pkcs11-provider comes from bookworm-backports (written by install-debian-packages.sh).
Package: pkcs11-provider
Pin: release n=bookworm-backports
Pin-Priority: 500

Package: *
Pin: release n=bookworm-backports
Pin-Priority: -1
PIN
fi

"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}"
# The packaged pcscd is socket-activated and not needed: the tests and the demo run their own
# on a private socket. Leave the system one alone if it is already in use.
