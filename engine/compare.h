/* `tunelua compare`: the command itself is Lua (lua/tunelua/compare.lua); this file starts it
 * and gives it, through the FFI, what plain Lua lacks: child processes, a monotonic clock,
 * and a fast reader of the journals the runs leave. */
#ifndef TL_COMPARE_H
#define TL_COMPARE_H

int tl_compare_main(int argc, char **argv);

#endif
