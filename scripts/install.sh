#!/usr/bin/env bash
# Builds release binaries and installs schedd, schedctl, the systemd unit, shell completions,
# man pages and the docs.
#
#   sudo scripts/install.sh                 # into /usr/local, unit into /etc/systemd/system
#   DESTDIR=/tmp/pkg scripts/install.sh     # staged, e.g. for a package
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
SYSCONFDIR=${SYSCONFDIR:-/etc}
step() { echo "==> $*"; }

step "checking system packages (scripts/install-deps.sh)"
scripts/install-deps.sh
# A static Swift runtime: schedctl starts in about half the time, and nothing else to install.
# Both products in one build (a first release build takes several minutes).
step "building schedd and schedctl (release, static Swift runtime)"
swift build -c release --static-swift-stdlib --product schedd
swift build -c release --static-swift-stdlib --product schedctl
# Runs enter their cgroups through it; schedd looks for it beside itself (docs/operations.md).
swift build -c release --static-swift-stdlib --product schedd-cgroup-exec
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)

step "installing binaries into $DESTDIR$PREFIX/bin"
for program in schedd schedctl schedd-cgroup-exec; do
  install -Dm755 "$bin/$program" "$DESTDIR$PREFIX/bin/$program"
  # Debug symbols are most of a Swift binary's size.
  if command -v strip >/dev/null; then
    strip "$DESTDIR$PREFIX/bin/$program"
  else
    echo "warning: strip (binutils) not found; $program is installed unstripped" >&2
  fi
done

unit="$DESTDIR$SYSCONFDIR/systemd/system/schedd.service"
step "installing the systemd unit $unit"
mkdir -p "$(dirname "$unit")"
sed "s|/usr/local/bin/schedd|$PREFIX/bin/schedd|; s|/usr/local/share/doc|$PREFIX/share/doc|" contrib/systemd/schedd.service > "$unit"

# The job file the unit applies; an existing one is never overwritten.
if [ ! -e "$DESTDIR$SYSCONFDIR/schedd/jobs.json" ]; then
  step "creating an empty job file $DESTDIR$SYSCONFDIR/schedd/jobs.json"
  install -Dm644 /dev/stdin "$DESTDIR$SYSCONFDIR/schedd/jobs.json" <<<'{"jobs": []}'
fi

step "installing shell completions (bash, zsh, fish)"
for shell in bash zsh fish; do
  case $shell in
    bash) dest="$PREFIX/share/bash-completion/completions/schedctl" ;;
    zsh) dest="$PREFIX/share/zsh/site-functions/_schedctl" ;;
    fish) dest="$PREFIX/share/fish/vendor_completions.d/schedctl.fish" ;;
  esac
  mkdir -p "$(dirname "$DESTDIR$dest")"
  "$bin/schedctl" --generate-completion-script "$shell" > "$DESTDIR$dest"
done

# From the built binaries' own description of their arguments: no second build.
step "installing man pages into $DESTDIR$PREFIX/share/man/man1"
if command -v python3 >/dev/null; then
  scripts/man-pages.py "$bin" "$DESTDIR$PREFIX/share/man/man1"
else
  echo "warning: python3 not found; man pages not installed" >&2
fi

step "installing docs into $DESTDIR$PREFIX/share/doc/schedd"
install -Dm644 -t "$DESTDIR$PREFIX/share/doc/schedd" README.md docs/*.md docs/openapi.yaml jobs.example.json

if [ -n "$DESTDIR" ]; then
  echo "staged into $DESTDIR; once these files are installed on the target: systemctl daemon-reload && systemctl enable --now schedd"
else
  echo "installed into $PREFIX; next: systemctl daemon-reload && systemctl enable --now schedd (jobs: $SYSCONFDIR/schedd/jobs.json)"
fi
