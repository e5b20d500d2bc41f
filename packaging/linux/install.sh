#!/usr/bin/env sh
# Install Heartbeat Desktop for the current user (no root): the bundle under ~/.local/lib, the command in
# ~/.local/bin, the menu entry, icons and AppStream metainfo under ~/.local/share. Run from the unpacked
# tarball. Safe to run again (it replaces the previous install).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${PREFIX:-$HOME/.local}
data=${XDG_DATA_HOME:-$prefix/share}
mkdir -p "$prefix/lib" "$prefix/bin" "$data/applications" "$data/metainfo"
rm -rf "$prefix/lib/heartbeat-desktop"
cp -a "$here/heartbeat-desktop" "$prefix/lib/heartbeat-desktop"
ln -sf "$prefix/lib/heartbeat-desktop/heartbeat-desktop" "$prefix/bin/heartbeat-desktop"
sed "s|^Exec=heartbeat-desktop|Exec=$prefix/bin/heartbeat-desktop|" "$here/heartbeat-desktop.desktop" \
  > "$data/applications/heartbeat-desktop.desktop"
cp "$here/io.github.heartbeat_desktop.metainfo.xml" "$data/metainfo/"
for png in "$here"/icons/heartbeat-desktop-*.png; do
  size=$(basename "$png" .png | sed 's/heartbeat-desktop-//')
  mkdir -p "$data/icons/hicolor/${size}x${size}/apps"
  cp "$png" "$data/icons/hicolor/${size}x${size}/apps/heartbeat-desktop.png"
done
mkdir -p "$data/icons/hicolor/scalable/apps"
cp "$here/icons/heartbeat-desktop.svg" "$data/icons/hicolor/scalable/apps/heartbeat-desktop.svg"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q "$data/icons/hicolor" || true
echo "Installed. Start it from your menu or run: $prefix/bin/heartbeat-desktop"
