#!/bin/sh
# A shell trainer whose behaviour depends on config.mode (for the failure specs):
#   ok           reports loss until stopped (stop = { training_iteration = 3 })
#   crash        reports once, writes a line on stderr, exits 7
#   notfound     runs a command that does not exist (the shell exits 127)
#   garbage      non-JSON on the socket after hello (raw.py)
#   huge         a line over 1 MiB (raw.py)
#   wrongtoken   hello with a wrong token (raw.py)
#   ignore_stop  survives SIGTERM and goes on after the stop decision; its background
#                child (which ignores SIGTERM too) has its pid in
#                $TUNELUA_TRIAL_DIR/child.pid
here=$(dirname "$0")
mode=$(python3 "$here/getcfg.py" mode) || exit 9
case $mode in
  ok)
    for step in 1 2 3 4 5 6 7 8 9 10; do
      tunelua report loss="0.$step" > /dev/null
      case $? in 0) ;; 3) exit 0 ;; *) exit 1 ;; esac
    done ;;
  crash)
    tunelua report loss=1 > /dev/null
    echo "some output first" >&2
    echo "boom: the trainer broke down" >&2
    exit 7 ;;
  notfound)
    exec tunelua-e2e-no-such-command-here ;;
  garbage|huge|wrongtoken)
    exec python3 "$here/raw.py" "$mode" ;;
  ignore_stop)
    trap 'echo "got TERM, ignoring it" >&2' TERM
    (trap '' TERM; exec sleep 97) &
    echo $! > "$TUNELUA_TRIAL_DIR/child.pid"
    for step in 1 2 3 4 5 6 7 8 9 10; do
      tunelua report loss="0.$step" > /dev/null
      [ $? = 0 ] || break
    done
    echo "told to stop; not stopping" >&2
    while :; do sleep 0.1; done ;;
esac
exit 0
