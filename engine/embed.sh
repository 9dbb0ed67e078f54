#!/bin/sh
# Writes build/embedded.c: every Lua module of the runtime (lua/) and of schedulers/ as LuaJIT
# bytecode (with line info, for tracebacks), and the table script.c installs in package.preload;
# other files (engine/plot.html) as byte arrays tl_asset_<name> with a trailing NUL and
# tl_asset_<name>_len.
# usage: engine/embed.sh OUTDIR FILE.lua|FILE...
set -eu
out=$1; shift
mkdir -p "$out/lua"
tab=$out/embedded.c.tmp
: > "$tab"
entries=""
for f in "$@"; do
  case $f in
    *.lua) ;;
    *)
      sym=tl_asset_$(basename "$f" | tr .- __)
      {
        printf 'extern const unsigned char %s[];\nextern const unsigned long %s_len;\n' "$sym" "$sym"
        printf 'const unsigned char %s[] = {\n' "$sym"
        od -An -v -tx1 "$f" | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
        printf '0};\nconst unsigned long %s_len = %s;\n' "$sym" "$(wc -c < "$f" | tr -d ' ')"
      } >> "$tab"
      continue ;;
  esac
  case $f in
    lua/*) mod=${f#lua/} ;;
    *) mod=$f ;;
  esac
  mod=${mod%.lua}
  mod=$(printf '%s' "$mod" | tr / .)
  sym=$(printf '%s' "$mod" | tr . _)
  luajit -b -g -n "$mod" "$f" "$out/lua/$sym.c"
  printf '#include "lua/%s.c"\n' "$sym" >> "$tab"
  entries="$entries  {\"$mod\", luaJIT_BC_$sym, sizeof luaJIT_BC_$sym},\n"
done
{
  echo '#include <stddef.h>'
  echo 'typedef struct { const char *name; const unsigned char *data; size_t size; } tl_embedded_module;'
  echo 'extern const tl_embedded_module tl_embedded_modules[];'
  echo 'const tl_embedded_module tl_embedded_modules[] = {'
  printf "$entries"
  echo '  {NULL, NULL, 0}};'
} >> "$tab"
mv "$tab" "$out/embedded.c"
