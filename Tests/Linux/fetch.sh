#!/bin/bash
# Fetches the real guest software the boot tests run, from Debian 12's archive (never committed), into OUT
# (default build/linux), and builds a busybox initramfs:
#   OUT/Image            Debian's arm64 kernel (linux-image-arm64's current ABI package), uncompressed Image
#   OUT/initramfs.gz     busybox-static:arm64 with an /init that mounts proc and sys, prints a marker, runs sh;
#                        /lib/emud-modules holds the kernel's modules for a virtio disk with ext2 (load-disk)
#   OUT/u-boot.bin       u-boot-qemu's qemu_arm64 build
# Needs root on a fresh machine (dpkg --add-architecture, apt-get update, mknod /dev/console); a second run
# with everything in place is offline and quick.
set -euo pipefail
OUT=$(realpath -m "${1:-build/linux}")
MARKER=EMUD-INITRAMFS-READY

fail() { echo "fetch.sh: $*" >&2; exit 1; }
for tool in apt-get apt-cache dpkg dpkg-deb cpio gzip; do
    command -v "$tool" >/dev/null || fail "'$tool' is missing; on Debian: apt-get install cpio dpkg apt gzip"
done

mkdir -p "$OUT/debs"
if [ ! -s "$OUT/Image" ] || [ ! -s "$OUT/initramfs.gz" ] || [ ! -s "$OUT/u-boot.bin" ] || [ ! -x "$OUT/initramfs/bin/load-disk" ]; then
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        [ "$(id -u)" = 0 ] || fail "arm64 packages need 'dpkg --add-architecture arm64 && apt-get update' as root"
        dpkg --add-architecture arm64
        apt-get update -qq
    fi
    # linux-image-arm64 depends on the current ABI's package (linux-image-6.1.0-NN-arm64), which holds the Image.
    kernel=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { sub(":arm64", "", $2); print $2; exit }')
    if [ -z "$kernel" ]; then
        [ "$(id -u)" = 0 ] && apt-get update -qq
        kernel=$(apt-cache depends linux-image-arm64:arm64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { sub(":arm64", "", $2); print $2; exit }')
    fi
    [ -n "$kernel" ] || fail "apt-cache knows no linux-image-arm64:arm64; run 'dpkg --add-architecture arm64 && apt-get update'"
    (cd "$OUT/debs" && for p in "$kernel:arm64" busybox-static:arm64 u-boot-qemu; do
        ls "${p%%:*}"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" || fail "apt-get download $p failed"
    done)
    rm -rf "$OUT/extract"
    mkdir -p "$OUT/extract"
    for deb in "$OUT"/debs/*.deb; do dpkg-deb -x "$deb" "$OUT/extract"; done
    image=$(ls "$OUT"/extract/boot/vmlinuz-* | head -1)
    cp "$image" "$OUT/Image"
    cp "$OUT/extract/usr/lib/u-boot/qemu_arm64/u-boot.bin" "$OUT/u-boot.bin"

    root="$OUT/initramfs"
    rm -rf "$root"
    mkdir -p "$root"/{bin,dev,proc,sys,tmp,sbin,usr/bin,usr/sbin}
    cp "$OUT/extract/bin/busybox" "$root/bin/busybox"
    cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo $MARKER
exec /bin/sh
INIT
    chmod 755 "$root/init"
    # Debian builds virtio-mmio, virtio-blk and ext4 (which mounts ext2) as modules: the initramfs carries them
    # and /bin/load-disk loads them in dependency order (the package has no modules.dep).
    modules=$(ls -d "$OUT"/extract/lib/modules/*/kernel | head -1)
    mkdir -p "$root/lib/emud-modules"
    order="drivers/virtio/virtio_mmio drivers/block/virtio_blk lib/crc16 fs/mbcache fs/jbd2/jbd2 crypto/crc32c_generic fs/ext4/ext4"
    for m in $order; do
        [ -f "$modules/$m.ko" ] || fail "the kernel package has no $m.ko"
        cp "$modules/$m.ko" "$root/lib/emud-modules/"
    done
    {
        echo '#!/bin/busybox sh'
        for m in $order; do echo "insmod /lib/emud-modules/${m##*/}.ko || exit 1"; done
    } > "$root/bin/load-disk"
    chmod 755 "$root/bin/load-disk"
    # The kernel opens /dev/console for init before anything is mounted.
    if [ ! -e "$root/dev/console" ]; then
        mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || fail "mknod /dev/console needs root"
    fi
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$OUT/initramfs.gz.tmp"
    mv "$OUT/initramfs.gz.tmp" "$OUT/initramfs.gz"
fi
echo "fetch.sh: $OUT/Image $OUT/initramfs.gz $OUT/u-boot.bin"
