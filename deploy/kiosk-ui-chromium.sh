#!/usr/bin/env bash
# Chromium in kiosk mode on the agent's page (run by the kiosk user's graphical session, e.g.
# from a systemd --user unit or the compositor's autostart). Nothing is kept on disk: the profile
# lives in a tmpfs folder removed on exit, incognito, no disk cache, no crash reports.
set -euo pipefail

URL="${KIOSK_UI_URL:-http://127.0.0.1:8080/}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
WAIT_SECONDS="${KIOSK_UI_WAIT:-60}"

hostport="${URL#http://}"
hostport="${hostport%%/*}"
host="${hostport%:*}"
port="${hostport##*:}"
case "$host" in
    127.*|localhost|\[::1\]) ;;
    *) echo "kiosk-ui: refusing a page that is not on loopback: $URL" >&2; exit 2 ;;
esac

# Wait for the agent to serve its page (it is started by systemd, maybe after us).
deadline=$((SECONDS + WAIT_SECONDS))
until (exec 3<>"/dev/tcp/${host//[\[\]]/}/$port") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "kiosk-ui: the agent does not answer on $URL after ${WAIT_SECONDS}s" >&2
        exit 1
    fi
    sleep 0.5
done

ulimit -c 0
runtime="${XDG_RUNTIME_DIR:-/tmp}"
profile="$(mktemp -d "$runtime/kiosk-ui.XXXXXX")"
trap 'rm -rf "$profile"' EXIT

"$CHROMIUM" \
    --kiosk "$URL" \
    --incognito \
    --user-data-dir="$profile" \
    --disk-cache-size=1 \
    --media-cache-size=1 \
    --no-first-run \
    --noerrdialogs \
    --disable-infobars \
    --disable-session-crashed-bubble \
    --disable-translate \
    --disable-features=Translate,TranslateUI,AutofillServerCommunication,MediaRouter \
    --disable-background-networking \
    --disable-component-update \
    --disable-sync \
    --disable-breakpad \
    --disable-crash-reporter \
    --overscroll-history-navigation=0 \
    --deny-permission-prompts \
    --password-store=basic \
    --check-for-update-interval=31536000 \
    --touch-events=enabled \
    --autoplay-policy=no-user-gesture-required \
    --lang=id \
    "$@"
