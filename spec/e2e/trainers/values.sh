#!/bin/sh
# Reports one result with values of several kinds, then one more, and records the exit
# statuses and printed actions of `tunelua report` in $TUNELUA_TRIAL_DIR/report.log.
out=$(tunelua report x=1.5 ok=true no=false name=abc n=null step=4 lr=1e-3 tag=run-a \
  k=1 k=2 neg=-2 'msg=hello world')
echo "$? $out" >> "$TUNELUA_TRIAL_DIR/report.log"
out=$(tunelua report x=2.5)
echo "$? $out" >> "$TUNELUA_TRIAL_DIR/report.log"
tunelua report novalue >/dev/null 2>"$TUNELUA_TRIAL_DIR/noeq.err"
echo "$? noeq" >> "$TUNELUA_TRIAL_DIR/report.log"
exit 0
