"""Test tool (not a trainer): runs a command on a pseudo-terminal of a given size and plays
its output on a small terminal emulator, to check what a person would see.

usage: pty_screen.py COLS ROWS OUT.json [--resize SECS COLS2 ROWS2] -- CMD...  (CMD via sh -c)

OUT.json: {"rc": exit status, "frames": [{"cols":, "rows":, "lines": [...]}, ...],
           "final": [...], "wraps": [{"row":, "text":}, ...]}
A frame is the screen as it was each time the program moved the cursor up (the start of a
redraw: the block before it is complete), with the size the terminal had when that block
began to be drawn. "wraps" lists every character written past the
last column (a terminal would wrap it onto the next line). Handles what the engine's console
writes: text, CR, LF, BS, TAB, CSI n A/B/C/D, CSI K/2K, CSI J, CSI H; other CSI are ignored.
"""
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time


class Screen:
    def __init__(self, cols, rows):
        self.cols, self.rows = cols, rows
        self.grid = [[] for _ in range(rows)]
        self.history = []  # lines scrolled off the top
        self.r = self.c = 0
        self.wraps = []

    def resize(self, cols, rows):
        while len(self.grid) < rows:
            self.grid.append([])
        while len(self.grid) > rows:
            self.history.append(self.grid.pop(0))
            self.r = max(0, self.r - 1)
        self.cols, self.rows = cols, rows

    def newline(self):
        self.r += 1
        if self.r >= self.rows:
            self.history.append(self.grid.pop(0))
            self.grid.append([])
            self.r = self.rows - 1

    def put(self, ch):
        if self.c >= self.cols:
            self.wraps.append({"row": self.r, "text": "".join(self.grid[self.r])})
            self.c = 0
            self.newline()
        line = self.grid[self.r]
        while len(line) < self.c:
            line.append(" ")
        if self.c < len(line):
            line[self.c] = ch
        else:
            line.append(ch)
        self.c += 1

    def lines(self):
        return ["".join(l).rstrip() for l in self.grid]

    def csi(self, params, final):
        nums = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        n = nums[0] if nums and nums[0] > 0 else 1
        if final == "A":
            return "up", n
        if final == "B":
            self.r = min(self.rows - 1, self.r + n)
        elif final == "C":
            self.c = min(self.cols, self.c + n)
        elif final == "D":
            self.c = max(0, self.c - n)
        elif final == "H":
            self.r, self.c = (max(1, nums[0]) - 1 if nums else 0), (max(1, nums[1]) - 1 if len(nums) > 1 else 0)
        elif final == "K":
            mode = nums[0] if nums else 0
            if mode == 2:
                self.grid[self.r] = []
            elif mode == 0:
                del self.grid[self.r][self.c:]
        elif final == "J":
            mode = nums[0] if nums else 0
            if mode == 0:
                del self.grid[self.r][self.c:]
                for i in range(self.r + 1, self.rows):
                    self.grid[i] = []
            elif mode == 2:
                self.grid = [[] for _ in range(self.rows)]
        return None, 0


def main():
    args = sys.argv[1:]
    cols, rows, out = int(args[0]), int(args[1]), args[2]
    rest = args[3:]
    resize = None
    if rest and rest[0] == "--resize":
        resize = (float(rest[1]), int(rest[2]), int(rest[3]))
        rest = rest[4:]
    assert rest and rest[0] == "--", "usage: pty_screen.py COLS ROWS OUT [--resize S C R] -- CMD"
    cmd = " ".join(rest[1:])

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env["TERM"] = "xterm"
    p = subprocess.Popen(["sh", "-c", "exec " + cmd], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, env=env)
    os.close(slave)

    scr = Screen(cols, rows)
    frames = []
    drawn_at = (cols, rows)  # the size when the frame on screen began to be drawn
    t0 = time.time()
    state, params = "text", ""
    while True:
        if resize and time.time() - t0 >= resize[0]:
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", resize[2], resize[1], 0, 0))
            scr.resize(resize[1], resize[2])
            resize = None
        ready, _, _ = select.select([master], [], [], 0.05)
        if not ready:
            if p.poll() is None:
                continue
            ready, _, _ = select.select([master], [], [], 0.2)  # what is still buffered
            if not ready:
                break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the program and everything holding the terminal are gone
            break
        if not data:
            break
        for ch in data.decode("utf-8", "replace"):
            if state == "esc":
                state = "csi" if ch == "[" else "text"
                params = ""
                continue
            if state == "csi":
                if ch.isalpha() or ch in "@`~":
                    what, n = scr.csi(params.lstrip("?"), ch)
                    if what == "up":
                        frames.append({"cols": drawn_at[0], "rows": drawn_at[1], "lines": scr.lines()})
                        drawn_at = (scr.cols, scr.rows)
                        scr.r = max(0, scr.r - n)
                    state = "text"
                else:
                    params += ch
                continue
            if ch == "\x1b":
                state = "esc"
            elif ch == "\r":
                scr.c = 0
            elif ch == "\n":
                scr.newline()
            elif ch == "\b":
                scr.c = max(0, scr.c - 1)
            elif ch == "\t":
                scr.c = min(scr.cols - 1, (scr.c // 8 + 1) * 8)
            elif ch >= " ":
                scr.put(ch)
    rc = p.wait()
    os.close(master)
    with open(out + ".tmp", "w") as f:
        json.dump({"rc": rc, "frames": frames, "final": ["".join(l).rstrip() for l in scr.history] + scr.lines(),
                   "wraps": scr.wraps}, f)
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
