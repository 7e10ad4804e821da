package tests

import (
	"strconv"
	"strings"
)

// screenText replays terminal output as a terminal would show it, for
// the few controls line editors use (CR, LF, BS, erase in line and
// display, cursor moves), and returns the visible lines. A byte-stream
// check cannot see text that a redraw erased; this can.
func screenText(out string) []string {
	var lines [][]rune
	row, col := 0, 0
	grow := func() {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		for len(lines[row]) < col {
			lines[row] = append(lines[row], ' ')
		}
	}
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\r':
			col = 0
		case c == '\n':
			row++
		case c == '\t':
			col = (col/8 + 1) * 8
		case c == '\b':
			if col > 0 {
				col--
			}
		case c == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';' || rs[j] == '?') {
				j++
			}
			if j >= len(rs) {
				break
			}
			arg := string(rs[i+2 : j])
			n, err := strconv.Atoi(strings.TrimPrefix(arg, "?"))
			if err != nil {
				n = 0
			}
			grow()
			switch rs[j] {
			case 'K':
				switch n {
				case 0:
					lines[row] = lines[row][:min(col, len(lines[row]))]
				case 1:
					for k := 0; k < col && k < len(lines[row]); k++ {
						lines[row][k] = ' '
					}
				case 2:
					lines[row] = nil
				}
			case 'J':
				if n == 0 {
					lines[row] = lines[row][:min(col, len(lines[row]))]
					lines = lines[:row+1]
				} else if n == 2 {
					lines, row, col = nil, 0, 0
				}
			case 'A':
				row = max(0, row-max(n, 1))
			case 'B':
				row += max(n, 1)
			case 'C':
				col += max(n, 1)
			case 'D':
				col = max(0, col-max(n, 1))
			case 'G':
				col = max(n, 1) - 1
			}
			i = j
		case c == 0x1b: // another escape: skip its next byte
			i++
		case c < 0x20:
		default:
			grow()
			if col < len(lines[row]) {
				lines[row][col] = c
			} else {
				lines[row] = append(lines[row], c)
			}
			col++
		}
	}
	out2 := make([]string, len(lines))
	for i, l := range lines {
		out2[i] = strings.TrimRight(string(l), " ")
	}
	return out2
}
