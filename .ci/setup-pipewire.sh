#!/bin/sh
# Install what the PipeWire output tests need on a Debian/Ubuntu CI runner.
# Never fails the job: whatever could not be installed makes the matching tests skip.
#   sh .ci/setup-pipewire.sh            # PipeWire + GStreamer (~25 s)
#   sh .ci/setup-pipewire.sh --browser  # also Chromium, camera portal, Xvfb (~20 s more, ~400 MB)
#   sh .ci/setup-pipewire.sh --browser --firefox   # and Firefox ESR (~300 MB more)
set -u
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
export DEBIAN_FRONTEND=noninteractive

BASE="pipewire pipewire-bin wireplumber dbus gstreamer1.0-tools gstreamer1.0-pipewire gstreamer1.0-plugins-base gstreamer1.0-plugins-good"
BROWSER="chromium xdg-desktop-portal xdg-desktop-portal-gtk xvfb"
PKGS="$BASE"
for arg in "$@"; do
    case "$arg" in
        --browser) PKGS="$PKGS $BROWSER" ;;
        --firefox) PKGS="$PKGS firefox-esr xdg-desktop-portal xdg-desktop-portal-gtk xvfb" ;;
        *) echo "usage: $0 [--browser] [--firefox]" >&2; exit 0 ;;
    esac
done

install() {  # the whole list in one go; if apt refuses (a package is unknown), one by one
    $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
    for p in "$@"; do
        $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 \
            || echo "ci-setup: WARNING: could not install $p (tests needing it will skip)" >&2
    done
}

if ! $SUDO apt-get update -qq >/dev/null 2>&1; then
    echo "ci-setup: WARNING: apt-get update failed; PipeWire tests will skip" >&2
    exit 0
fi
# shellcheck disable=SC2086
install $PKGS
for tool in gst-launch-1.0 pipewire wireplumber pw-link dbus-daemon; do
    command -v "$tool" >/dev/null 2>&1 || echo "ci-setup: WARNING: $tool missing" >&2
done
exit 0
