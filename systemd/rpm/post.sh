# After install or upgrade (%post): systemd learns of the new or changed
# unit. The service is neither enabled nor started: that is the operator's
# call, after the config is written (as with the .deb). No `systemctl
# preset` either, which enables units on distributions whose preset
# policy is "enable *".
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
