// Package sysuser resolves a --user USER[:GROUP] specification against
// /etc/passwd and /etc/group without cgo or NSS, the way Docker and runc
// resolve a container's user.
//
// USER is a login name or a numeric uid; GROUP is a group name or a numeric
// gid. Names must exist in the files; numbers need not (a uid absent from
// passwd runs with gid 0 and home "/"). A missing /etc/passwd or /etc/group
// is treated as empty, so numeric specs work in images without them; any
// other read error is reported rather than guessed around, because silently
// falling back could run a process with gid 0.
package sysuser

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"

	"github.com/tend-sh/tend/internal/readfile"
)

// Identity is a resolved user: the credentials to switch to and the values
// for HOME and USER.
type Identity struct {
	UID, GID uint32
	// Groups are the supplementary groups to set: the primary GID first,
	// then every group listing Name as a member, in file order, no
	// duplicates. Never empty.
	Groups []uint32
	// Home is the passwd home directory, "/" when unknown or empty.
	Home string
	// Name is the passwd login name, "" when the uid is not in passwd.
	Name string
}

const (
	// DefaultPasswd and DefaultGroup are the files Lookup reads.
	DefaultPasswd = "/etc/passwd"
	DefaultGroup  = "/etc/group"

	// maxFileSize bounds how much of a database file is read (and only a
	// regular file is read: package readfile), so that an image whose
	// /etc/passwd is, say, a link to /dev/zero or a FIFO fails cleanly.
	maxFileSize = 64 << 20

	// noID is (uid_t)-1, which setuid/setgid treat as "unchanged"; it is
	// never a valid id.
	noID = math.MaxUint32
)

// Lookup resolves spec against /etc/passwd and /etc/group.
func Lookup(spec string) (*Identity, error) {
	return LookupFiles(spec, DefaultPasswd, DefaultGroup)
}

// LookupFiles is Lookup with explicit database paths (used by tests).
func LookupFiles(spec, passwdPath, groupPath string) (*Identity, error) {
	userArg, groupArg, hasGroup, err := splitSpec(spec)
	if err != nil {
		return nil, err
	}
	uid, userIsNum, err := parseID(spec, userArg, "user")
	if err != nil {
		return nil, err
	}
	var gid uint32
	var groupIsNum bool
	if hasGroup {
		if gid, groupIsNum, err = parseID(spec, groupArg, "group"); err != nil {
			return nil, err
		}
	}

	passwd, passwdExists, err := readDB(passwdPath)
	if err != nil {
		return nil, err
	}
	var ent *passwdEntry
	for _, e := range parsePasswd(passwd) {
		if (userIsNum && e.uid == uid) || (!userIsNum && e.name == userArg) {
			ent = &e
			break
		}
	}

	id := &Identity{Home: "/"}
	switch {
	case ent != nil:
		if ent.uid == noID || ent.gid == noID {
			return nil, fmt.Errorf("user %q in %s has invalid uid/gid %d:%d", ent.name, passwdPath, ent.uid, ent.gid)
		}
		id.UID, id.GID, id.Name = ent.uid, ent.gid, ent.name
		if ent.home != "" {
			id.Home = ent.home
		}
	case userIsNum:
		id.UID = uid // Docker semantics: unknown uid runs as gid 0
	default:
		return nil, fmt.Errorf("no such user %q in %s%s", userArg, passwdPath, missingNote(passwdExists))
	}

	// The group file is needed for a group name or for a named user's
	// supplementary groups.
	var groups []groupEntry
	if (hasGroup && !groupIsNum) || id.Name != "" {
		data, exists, err := readDB(groupPath)
		if err != nil {
			return nil, err
		}
		groups = parseGroup(data)
		if hasGroup && !groupIsNum {
			found := false
			for _, g := range groups {
				if g.name == groupArg {
					gid, found = g.gid, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("no such group %q in %s%s", groupArg, groupPath, missingNote(exists))
			}
			if gid == noID {
				return nil, fmt.Errorf("group %q in %s has invalid gid %d", groupArg, groupPath, gid)
			}
		}
	}
	if hasGroup {
		id.GID = gid
	}

	id.Groups = []uint32{id.GID}
	if id.Name != "" {
		for _, g := range groups {
			if g.gid != noID && hasMember(g.members, id.Name) && !contains(id.Groups, g.gid) {
				id.Groups = append(id.Groups, g.gid)
			}
		}
	}
	return id, nil
}

func contains(s []uint32, v uint32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func missingNote(exists bool) string {
	if exists {
		return ""
	}
	return " (file does not exist)"
}

// splitSpec splits USER[:GROUP], rejecting empty parts and extra colons.
func splitSpec(spec string) (user, group string, hasGroup bool, err error) {
	if spec == "" {
		return "", "", false, errors.New("empty user spec: want USER[:GROUP], each a name or a number")
	}
	user, group, hasGroup = strings.Cut(spec, ":")
	if user == "" || (hasGroup && group == "") || strings.Contains(group, ":") {
		return "", "", false, fmt.Errorf("invalid user spec %q: want USER[:GROUP], each a name or a number", spec)
	}
	return user, group, hasGroup, nil
}

// parseID reports whether s is a number (all ASCII digits) and, if so, its
// value. A number that does not fit, or is (uid_t)-1, is an error.
func parseID(spec, s, kind string) (uint32, bool, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == noID {
		return 0, false, fmt.Errorf("invalid user spec %q: %s id %s out of range 0-%d", spec, kind, s, uint32(noID-1))
	}
	return uint32(n), true, nil
}

// readDB reads a database file: a regular file of at most maxFileSize
// (a FIFO or a device is an error, never a blocked or endless read). A
// missing file reads as empty with exists false; any other failure is an
// error.
func readDB(path string) (data []byte, exists bool, err error) {
	data, err = readfile.Read(path, maxFileSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, true, err
	}
	return data, true, nil
}
