#!/usr/bin/env sh
# Remove what install.sh put in place. Your data (database, HEARTBEAT.md, logs) stays; delete
# ~/.local/share/heartbeat-desktop yourself if you want it gone too.
set -eu
prefix=${PREFIX:-$HOME/.local}
data=${XDG_DATA_HOME:-$prefix/share}
"$prefix/bin/heartbeat-desktop" quit >/dev/null 2>&1 || true
rm -rf "$prefix/lib/heartbeat-desktop"
rm -f "$prefix/bin/heartbeat-desktop" "$data/applications/heartbeat-desktop.desktop" \
  "$data/metainfo/io.github.heartbeat_desktop.metainfo.xml" \
  "$data/icons/hicolor/scalable/apps/heartbeat-desktop.svg" \
  "${XDG_CONFIG_HOME:-$HOME/.config}/autostart/heartbeat-desktop.desktop"
for dir in "$data"/icons/hicolor/*x*/apps; do rm -f "$dir/heartbeat-desktop.png"; done
echo "Uninstalled (your data in ~/.local/share/heartbeat-desktop was kept)."
