# Helpers shared by the set-up scripts (sourced, not run).
# shellcheck shell=bash

# Prints a step's heading, so a long first run shows what it is doing, with the time since the
# outermost script began (exported, so the steps of a script run by another count from the same
# start and the difference between two headings is the time a step took).
step() {
  : "${CYBORG_STEPS_STARTED:=$(date +%s)}"
  export CYBORG_STEPS_STARTED
  local elapsed=$(($(date +%s) - CYBORG_STEPS_STARTED))
  printf '\n== %s  (at %d min %02d s)\n' "$*" $((elapsed / 60)) $((elapsed % 60))
}

# Runs a command as root: directly when we are root (as on CI), through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    sudo "$@"
  fi
}

# Installs Debian packages. Run every time: on installed packages it changes nothing, and running
# it always means CI exercises the same line a fresh machine does.
apt_install() {
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
