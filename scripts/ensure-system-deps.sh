#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (real Fashion-MNIST files, headless Chromium) when they
# are missing and we are root; otherwise says what is missing and lets the affected tests skip.
set -u
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
    || echo "could not install ${need[*]}; the tests that need them will skip" >&2
else
  echo "missing ${need[*]} (install with apt-get); the tests that need them will skip" >&2
fi
exit 0
