package tinybert

// A deliberately small pickle VM: only the protocol 2-4 opcodes that torch.save writes for
// state dicts, nothing that imports or calls anything by itself. Globals are resolved by
// a caller-supplied whitelist (see torchbin.go) and REDUCE only calls what it returned.
//
// Why not github.com/nlpodyssey/gopickle (the one pure-Go reader on the proxy: v0.2.0,
// 2023, "work in progress")? It allocates buffers of any length read from the stream
// before checking them against the input (a 9-byte BINUNICODE or FRAME can ask for
// gigabytes); it resolves collections.OrderedDict, __builtin__.object and
// copy_reg._reconstructor itself before any caller hook, and any other unknown global to a
// generic class unless the caller installs a FindClass hook; and its pytorch package
// panics on legacy tar files and storage views. Hardening it would take more code than
// the ~500 lines here, and we would still not own the guarantees we need: errors, never
// panics, never allocations bigger than the input, nothing resolved we did not list.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"
)

// Python values as the VM represents them.
type (
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string } // a whitelisted callable, never a Go func
	pyDict   struct {
		keys, vals []any
		index      map[any]int
		attrs      *pyDict // state set by BUILD (torch: OrderedDict._metadata); kept, not used
	}
)

func newPyDict() *pyDict { return &pyDict{index: map[any]int{}} }

// hashable reports whether a key can be used as a Go map key without panicking and
// means what Python means by it. State dicts only need strings.
func hashable(k any) bool {
	switch k.(type) {
	case nil, bool, int64, float64, string:
		return true
	}
	return false
}

func (d *pyDict) set(k, v any) error {
	if !hashable(k) {
		return fmt.Errorf("dict key of type %s not supported", describe(k))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// describe names a value's type for error messages without walking into it (values can
// be cyclic through the memo).
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyTuple:
		return fmt.Sprintf("tuple of %d", len(v))
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return v.module + "." + v.name
	}
	return fmt.Sprintf("%T", v)
}

// UnsafePickleError is returned when a pickle names a global that is not on the
// whitelist: in Python, loading it would import and possibly run arbitrary code.
type UnsafePickleError struct {
	Global  string // "module.name", e.g. "os.system"
	Offset  int
	Allowed []string
}

func (e *UnsafePickleError) Error() string {
	return fmt.Sprintf("pickle: refusing global %s at offset %d: only the globals that rebuild tensors are allowed (%v); "+
		"this is not a plain PyTorch state dict (a whole pickled model, or something malicious)", e.Global, e.Offset, e.Allowed)
}

// unpickler runs one pickle from data[pos:]. The callbacks give meaning to globals,
// calls and persistent ids; the VM itself never creates anything but plain values.
type unpickler struct {
	data []byte
	pos  int

	stack []any
	marks []int
	memo  map[uint32]any

	findGlobal     func(module, name string, offset int) (any, error)
	call           func(fn any, args pyTuple) (any, error)
	persistentLoad func(pid any) (any, error)
}

const maxGlobalLine = 256 // module and attribute names are short

func (u *unpickler) errorf(format string, args ...any) error {
	return fmt.Errorf("pickle at offset %d: %s", u.pos, fmt.Sprintf(format, args...))
}

func (u *unpickler) take(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, u.errorf("needs %d bytes but only %d remain (truncated?)", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) takeLen(width int) (int, error) {
	b, err := u.take(width)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch width {
	case 1:
		n = uint64(b[0])
	case 4:
		n = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		n = binary.LittleEndian.Uint64(b)
	}
	if n > uint64(len(u.data)-u.pos) {
		return 0, u.errorf("length %d exceeds the %d bytes left (truncated or corrupt)", n, len(u.data)-u.pos)
	}
	return int(n), nil
}

func (u *unpickler) line() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:min(len(u.data), u.pos+maxGlobalLine)], '\n')
	if i < 0 {
		return "", u.errorf("unterminated or overlong GLOBAL name")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, u.errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, u.errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items pushed since the last MARK (a fresh slice) and drops them.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoGet(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return u.errorf("memo key %d was never set", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) memoPut(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var buf [8]byte
		copy(buf[:], b)
		if b[len(b)-1]&0x80 != 0 { // sign-extend
			for i := len(b); i < 8; i++ {
				buf[i] = 0xff
			}
		}
		return int64(binary.LittleEndian.Uint64(buf[:]))
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	n := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// load runs until STOP and returns the single value left on the stack.
func (u *unpickler) load() (any, error) {
	if u.memo == nil {
		u.memo = map[uint32]any{}
	}
	for {
		if u.pos >= len(u.data) {
			return nil, u.errorf("ended without STOP (truncated?)")
		}
		opPos := u.pos
		op := u.data[u.pos]
		u.pos++
		var err error
		switch op {
		case 0x80: // PROTO
			var b []byte
			if b, err = u.take(1); err == nil && (b[0] < 2 || b[0] > 5) {
				err = u.errorf("pickle protocol %d not supported", b[0])
			}
		case 0x95: // FRAME: a buffering hint; only check that it fits
			_, err = u.takeLen(8)
		case '.': // STOP
			if len(u.marks) != 0 || len(u.stack) != 1 {
				return nil, u.errorf("STOP with %d values and %d marks on the stack", len(u.stack), len(u.marks))
			}
			return u.stack[0], nil
		case '(': // MARK
			u.marks = append(u.marks, len(u.stack))
		case '0': // POP
			_, err = u.pop()
		case '1': // POP_MARK
			_, err = u.popMark()
		case '2': // DUP
			var v any
			if v, err = u.top(); err == nil {
				u.push(v)
			}
		case 'N':
			u.push(nil)
		case 0x88:
			u.push(true)
		case 0x89:
			u.push(false)
		case 'K': // BININT1
			var b []byte
			if b, err = u.take(1); err == nil {
				u.push(int64(b[0]))
			}
		case 'M': // BININT2
			var b []byte
			if b, err = u.take(2); err == nil {
				u.push(int64(binary.LittleEndian.Uint16(b)))
			}
		case 'J': // BININT
			var b []byte
			if b, err = u.take(4); err == nil {
				u.push(int64(int32(binary.LittleEndian.Uint32(b))))
			}
		case 0x8a, 0x8b: // LONG1, LONG4
			width := 1
			if op == 0x8b {
				width = 4
			}
			var n int
			if n, err = u.takeLen(width); err == nil {
				if n > 1024 {
					err = u.errorf("LONG of %d bytes is absurd", n)
				} else {
					b, _ := u.take(n)
					u.push(decodeLong(b))
				}
			}
		case 'G': // BINFLOAT (big-endian)
			var b []byte
			if b, err = u.take(8); err == nil {
				u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
			}
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			width := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8}[op]
			var n int
			if n, err = u.takeLen(width); err == nil {
				b, _ := u.take(n)
				if !utf8.Valid(b) {
					err = u.errorf("string is not valid UTF-8")
				} else {
					u.push(string(b))
				}
			}
		case ')':
			u.push(pyTuple{})
		case ']':
			u.push(&pyList{})
		case '}':
			u.push(newPyDict())
		case 't': // TUPLE
			var items []any
			if items, err = u.popMark(); err == nil {
				u.push(pyTuple(items))
			}
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(u.stack) < n || (len(u.marks) > 0 && len(u.stack)-n < u.marks[len(u.marks)-1]) {
				err = u.errorf("stack underflow")
			} else {
				t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
				u.stack = u.stack[:len(u.stack)-n]
				u.push(t)
			}
		case 'l': // LIST
			var items []any
			if items, err = u.popMark(); err == nil {
				u.push(&pyList{items: items})
			}
		case 'd': // DICT
			var items []any
			if items, err = u.popMark(); err == nil {
				d := newPyDict()
				err = u.setItems(d, items)
				u.push(d)
			}
		case 'a': // APPEND
			var v, l any
			if v, err = u.pop(); err == nil {
				if l, err = u.top(); err == nil {
					err = u.appendTo(l, []any{v})
				}
			}
		case 'e': // APPENDS
			var items []any
			if items, err = u.popMark(); err == nil {
				var l any
				if l, err = u.top(); err == nil {
					err = u.appendTo(l, items)
				}
			}
		case 's': // SETITEM
			var k, v, d any
			if v, err = u.pop(); err == nil {
				if k, err = u.pop(); err == nil {
					if d, err = u.top(); err == nil {
						err = u.setItems(d, []any{k, v})
					}
				}
			}
		case 'u': // SETITEMS
			var items []any
			if items, err = u.popMark(); err == nil {
				var d any
				if d, err = u.top(); err == nil {
					err = u.setItems(d, items)
				}
			}
		case 'q': // BINPUT
			var b []byte
			if b, err = u.take(1); err == nil {
				err = u.memoPut(uint32(b[0]))
			}
		case 'r': // LONG_BINPUT
			var b []byte
			if b, err = u.take(4); err == nil {
				err = u.memoPut(binary.LittleEndian.Uint32(b))
			}
		case 0x94: // MEMOIZE
			if len(u.memo) >= math.MaxUint32 {
				err = u.errorf("memo full")
			} else {
				err = u.memoPut(uint32(len(u.memo)))
			}
		case 'h': // BINGET
			var b []byte
			if b, err = u.take(1); err == nil {
				err = u.memoGet(uint32(b[0]))
			}
		case 'j': // LONG_BINGET
			var b []byte
			if b, err = u.take(4); err == nil {
				err = u.memoGet(binary.LittleEndian.Uint32(b))
			}
		case 'c': // GLOBAL "module\nname\n"
			var module, name string
			if module, err = u.line(); err == nil {
				if name, err = u.line(); err == nil {
					err = u.pushGlobal(module, name, opPos)
				}
			}
		case 0x93: // STACK_GLOBAL
			var m, n any
			if n, err = u.pop(); err == nil {
				if m, err = u.pop(); err == nil {
					module, ok1 := m.(string)
					name, ok2 := n.(string)
					if !ok1 || !ok2 {
						err = u.errorf("STACK_GLOBAL needs two strings, got %s and %s", describe(m), describe(n))
					} else {
						err = u.pushGlobal(module, name, opPos)
					}
				}
			}
		case 'R': // REDUCE
			var fn, args any
			if args, err = u.pop(); err == nil {
				if fn, err = u.pop(); err == nil {
					t, ok := args.(pyTuple)
					if !ok {
						err = u.errorf("REDUCE arguments must be a tuple, got %s", describe(args))
					} else if u.call == nil {
						err = u.errorf("REDUCE of %s where nothing may be called", describe(fn))
					} else {
						var v any
						if v, err = u.call(fn, t); err == nil {
							u.push(v)
						} else {
							err = fmt.Errorf("pickle at offset %d: calling %s: %w", opPos, describe(fn), err)
						}
					}
				}
			}
		case 0x81: // NEWOBJ: cls.__new__(cls, *args); no whitelisted global is a class
			var cls any
			if _, err = u.pop(); err == nil {
				if cls, err = u.pop(); err == nil {
					err = u.errorf("NEWOBJ of %s not supported", describe(cls))
				}
			}
		case 'b': // BUILD
			var state, obj any
			if state, err = u.pop(); err == nil {
				if obj, err = u.top(); err == nil {
					d, okObj := obj.(*pyDict)
					s, okState := state.(*pyDict)
					if !okObj || !okState {
						err = u.errorf("BUILD of %s with %s state not supported", describe(obj), describe(state))
					} else {
						d.attrs = s
					}
				}
			}
		case 'Q': // BINPERSID
			var pid any
			if pid, err = u.pop(); err == nil {
				if u.persistentLoad == nil {
					err = u.errorf("persistent id found where none is expected")
				} else {
					var v any
					if v, err = u.persistentLoad(pid); err == nil {
						u.push(v)
					} else {
						err = fmt.Errorf("pickle at offset %d: %w", opPos, err)
					}
				}
			}
		default:
			return nil, fmt.Errorf("pickle at offset %d: opcode 0x%02x (%q) not supported by this state-dict reader", opPos, op, rune(op))
		}
		if err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) pushGlobal(module, name string, offset int) error {
	if u.findGlobal == nil {
		return &UnsafePickleError{Global: module + "." + name, Offset: offset}
	}
	v, err := u.findGlobal(module, name, offset)
	if err != nil {
		return err
	}
	u.push(v)
	return nil
}

func (u *unpickler) appendTo(l any, items []any) error {
	list, ok := l.(*pyList)
	if !ok {
		return u.errorf("APPEND to %s", describe(l))
	}
	list.items = append(list.items, items...)
	return nil
}

func (u *unpickler) setItems(d any, items []any) error {
	dict, ok := d.(*pyDict)
	if !ok {
		return u.errorf("SETITEM on %s", describe(d))
	}
	if len(items)%2 != 0 {
		return u.errorf("SETITEMS with an odd number (%d) of items", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := dict.set(items[i], items[i+1]); err != nil {
			return u.errorf("%v", err)
		}
	}
	return nil
}
