# Before erase (%preun, as Fedora's %systemd_preun): on a real removal ($1
# is 0), not an upgrade, the service is stopped and disabled while its
# binary is still there.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now cdnquota.service >/dev/null 2>&1 || :
fi
