#!/usr/bin/env bash
# System packages the app and its test suite need on Debian/Ubuntu: Qt's xcb/EGL/font libraries,
# for the tray and notification tests an X server (Xvfb), a tray (trayer) and a D-Bus session bus, and
# a real notification daemon (dunst: actions and Do Not Disturb), for the keyring tests a real Secret Service (gnome-keyring) and its real password dialog (gcr), and to
# build the real model engine the suite runs against (llama.cpp, via packaging/dev-env.sh) a C/C++
# toolchain and CMake.
# Run as root (or through sudo). Safe to run again.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
  exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  python3-venv \
  libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 \
  libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
  libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1 libx11-xcb1 libxrender1 libxi6 \
  fonts-dejavu-core \
  xvfb trayer dbus dbus-daemon gnome-keyring gcr dunst \
  build-essential cmake
