# Sourced by the scripts that install what they need on first use:
#   . scripts/lib/packages.sh; need_packages pkg...
# need_packages installs the Debian packages of its arguments that are
# missing (as root, or through sudo), saying so with the caller's say().
# The package lists are refreshed only when older than a day.
need_packages() {
  missing=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
  fi
  # shellcheck disable=SC2086
  $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
}
