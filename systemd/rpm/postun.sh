# After erase or upgrade (%postun, as Fedora's %systemd_postun_with_restart):
# systemd forgets the removed unit or reads the new one; on an upgrade ($1
# is 1 or more) a running service is restarted on the new binary, and one
# that is stopped stays stopped.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart cdnquota.service >/dev/null 2>&1 || :
    fi
fi
