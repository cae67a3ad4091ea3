#!/bin/sh
# Stages the root file system of the web-and-job example and builds the
# image. Needs Go, a static busybox (Debian: apt-get install busybox-static;
# or BUSYBOX=/path) and Docker; pulls no image.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/bin" "$root/etc/tend" "$root/srv/www" "$root/tmp"
(cd "$repo" && CGO_ENABLED=0 go build -tags timetzdata -trimpath -ldflags '-s -w' -o "$root/bin/tend" ./cmd/tend)
cp "${BUSYBOX:-/bin/busybox}" "$root/bin/busybox"
for applet in sh httpd date du cut find echo cat wget ls; do
	ln -s busybox "$root/bin/$applet"
done
cp "$here"/tend.d/* "$root/etc/tend/"
cp "$here"/www/* "$root/srv/www/"
cp "$here/Dockerfile" "$ctx/"
docker build -t "${IMAGE:-tend-web-and-job}" "$ctx"
