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

scripts/install-deps.sh
# A static Swift runtime: schedctl starts in about half the time, and nothing else to install.
swift build -c release --static-swift-stdlib --product schedd
swift build -c release --static-swift-stdlib --product schedctl
bin=$(swift build -c release --show-bin-path)

install -Dm755 "$bin/schedd" "$DESTDIR$PREFIX/bin/schedd"
install -Dm755 "$bin/schedctl" "$DESTDIR$PREFIX/bin/schedctl"

unit="$DESTDIR$SYSCONFDIR/systemd/system/schedd.service"
mkdir -p "$(dirname "$unit")"
sed "s|/usr/local/bin/schedd|$PREFIX/bin/schedd|; s|/usr/local/share/doc|$PREFIX/share/doc|" contrib/systemd/schedd.service > "$unit"

# The job file the unit applies; an existing one is never overwritten.
if [ ! -e "$DESTDIR$SYSCONFDIR/schedd/jobs.json" ]; then
  install -Dm644 /dev/stdin "$DESTDIR$SYSCONFDIR/schedd/jobs.json" <<<'{"jobs": []}'
fi

for shell in bash zsh fish; do
  case $shell in
    bash) dest="$PREFIX/share/bash-completion/completions/schedctl" ;;
    zsh) dest="$PREFIX/share/zsh/site-functions/_schedctl" ;;
    fish) dest="$PREFIX/share/fish/vendor_completions.d/schedctl.fish" ;;
  esac
  mkdir -p "$(dirname "$DESTDIR$dest")"
  "$bin/schedctl" --generate-completion-script "$shell" > "$DESTDIR$dest"
done

# Man pages from the argument parser's own plugin.
man=$(mktemp -d)
if swift package --allow-writing-to-directory "$man" generate-manual --output-directory "$man" --multi-page >/dev/null 2>&1; then
  find "$man" \( -name 'schedctl*.1' -o -name 'schedd.1' -o -name 'schedd.help.1' \) -exec install -Dm644 -t "$DESTDIR$PREFIX/share/man/man1" {} +
else
  echo "warning: man pages were not generated (swift package generate-manual failed)" >&2
fi
rm -rf "$man"

install -Dm644 -t "$DESTDIR$PREFIX/share/doc/schedd" README.md docs/*.md jobs.example.json
echo "installed into ${DESTDIR:-/}$PREFIX; next: systemctl daemon-reload && systemctl enable --now schedd"
