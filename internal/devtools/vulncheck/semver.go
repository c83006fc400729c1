package main

import "strings"

// semverLess reports whether version a precedes version b under SemVer 2.0
// precedence, as OSV writes Go versions: no leading "v". Build metadata is
// ignored, as precedence requires.
func semverLess(a, b string) bool {
	return semverCompare(a, b) < 0
}

func semverCompare(a, b string) int {
	a, _, _ = strings.Cut(strings.TrimPrefix(a, "v"), "+")
	b, _, _ = strings.Cut(strings.TrimPrefix(b, "v"), "+")
	aCore, aPre, aHasPre := strings.Cut(a, "-")
	bCore, bPre, bHasPre := strings.Cut(b, "-")
	aNums, bNums := strings.Split(aCore, "."), strings.Split(bCore, ".")
	for i := 0; i < 3; i++ {
		if c := compareNumeric(part(aNums, i), part(bNums, i)); c != 0 {
			return c
		}
	}
	switch {
	case !aHasPre && !bHasPre:
		return 0
	case !aHasPre:
		return 1 // a release follows its pre-releases
	case !bHasPre:
		return -1
	}
	aIDs, bIDs := strings.Split(aPre, "."), strings.Split(bPre, ".")
	for i := 0; i < len(aIDs) && i < len(bIDs); i++ {
		if c := comparePreID(aIDs[i], bIDs[i]); c != 0 {
			return c
		}
	}
	return compareInt(len(aIDs), len(bIDs))
}

func part(parts []string, i int) string {
	if i < len(parts) {
		return parts[i]
	}
	return "0"
}

// comparePreID orders two pre-release identifiers: numeric ones by value
// and below alphanumeric ones, alphanumeric ones in ASCII order.
func comparePreID(a, b string) int {
	aNum, bNum := isNumeric(a), isNumeric(b)
	switch {
	case aNum && bNum:
		return compareNumeric(a, b)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

// compareNumeric compares two decimal strings of any length by value.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if c := compareInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func compareInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
