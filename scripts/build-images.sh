#!/usr/bin/env bash
# Builds the local host image the bench runs every "host" from, without any
# registry: a debootstrap rootfs imported into Docker, plus one committed layer
# with systemd as PID 1, python3 and the packages every host needs.
# The tag carries a hash of this script, so the image is built once and reused
# until the script changes.
set -euo pipefail
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Extra CA certificates the controller trusts (a TLS-inspecting egress proxy,
# a site CA) are trusted by the hosts too, so pip inside them reaches PyPI.
extra_cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e ${extra_cas[0]} ]] || extra_cas=()
zipcache="$(dirname "$0")/image/odoo_scale_zipcache.py"
hash="$(cat "$0" "$zipcache" "${extra_cas[@]}" | sha256sum | cut -c1-12)"
# Bump rootfs_rev when the debootstrap step itself changes.
rootfs_rev=1
base_tag="odoo-scale/rootfs:${suite}-r${rootfs_rev}"
host_tag="odoo-scale/host:${suite}-${hash}"
alias_tag="odoo-scale/host:${suite}"

if docker image inspect "$host_tag" >/dev/null 2>&1; then
  docker tag "$host_tag" "$alias_tag"
  echo "build-images: $alias_tag is current ($host_tag)"
  exit 0
fi

if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  work="$(mktemp -d /var/tmp/odoo-scale-rootfs.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  echo "build-images: debootstrap $suite into $work"
  debootstrap --variant=minbase "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/root" -c . | docker import - "$base_tag" >/dev/null
fi

echo "build-images: adding the systemd layer"
cid="$(docker run -d "$base_tag" sleep infinity)"
cleanup() { docker rm -f "$cid" >/dev/null 2>&1 || true; }
trap cleanup EXIT
docker exec -e DEBIAN_FRONTEND=noninteractive "$cid" bash -euc '
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    systemd systemd-sysv dbus python3 python3-apt sudo ca-certificates \
    iproute2 procps less locales gnupg curl acl >/dev/null
  # Units that have nothing to do in a container and only slow boot down.
  for u in getty.target console-getty.service systemd-logind.service \
           systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount \
           systemd-udevd.service systemd-udev-trigger.service systemd-firstboot.service \
           systemd-journald-audit.socket apt-daily.timer apt-daily-upgrade.timer; do
    systemctl mask "$u" >/dev/null 2>&1 || true
  done
  sed -i "s/^# *en_US.UTF-8/en_US.UTF-8/" /etc/locale.gen && locale-gen >/dev/null
  echo "LANG=C.UTF-8" >/etc/default/locale
  apt-get clean
  # Keep the package lists so a converge needs no apt-get update to start.
  apt-get update -qq
'
for ca in "${extra_cas[@]}"; do
  docker cp "$ca" "$cid:/usr/local/share/ca-certificates/$(basename "$ca")"
done
if ((${#extra_cas[@]})); then
  docker exec "$cid" update-ca-certificates >/dev/null
fi
# Test hosts only: every Ansible task ships its module_utils in a new zip that
# Python compiles again each time (about 0.1 s of CPU per task and host; an
# idempotent data_tier.yml ran 14 % faster with the hook, README: Run times).
# A .pth hook caches the compiled code by the source's hash; what runs is the
# same code (scripts/image/).
docker cp "$zipcache" "$cid:/usr/lib/python3/dist-packages/odoo_scale_zipcache.py"
docker exec "$cid" bash -euc '
  echo "import odoo_scale_zipcache" >/usr/lib/python3/dist-packages/odoo-scale-zipcache.pth
  install -d -m 0755 /var/cache/odoo-scale-pyzip
  python3 -c "import zipimport, odoo_scale_zipcache; assert zipimport._compile_source is odoo_scale_zipcache._compile_source"
'
docker commit -c 'CMD ["/lib/systemd/systemd"]' \
  "$cid" "$host_tag" >/dev/null
docker tag "$host_tag" "$alias_tag"
echo "build-images: built $alias_tag ($host_tag)"
