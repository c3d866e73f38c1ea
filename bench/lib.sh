# Helpers shared by the comparison benchmarks (sourced).

# median: the median of the numbers on stdin (0 if none).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# ratio A B: "A/Bx" with two decimals, "n/a" when B is 0.
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print("n/a" if b==0 else f"{a/b:.2f}x")' "$1" "$2"; }

# write_table DOC NAME TABLE: puts TABLE between <!-- NAME:begin --> and
# <!-- NAME:end --> in DOC (if DOC has those markers).
write_table() {
  local doc=$1 name=$2 table=$3
  [ -f "$doc" ] && grep -q "<!-- $name:begin -->" "$doc" || return 0
  python3 - "$doc" "$name" "$table" <<'PY'
import sys
doc, name, table = sys.argv[1], sys.argv[2], sys.argv[3]
s = open(doc).read()
a, b = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
s = s[: s.index(a) + len(a)] + "\n" + table + "\n" + s[s.index(b):]
open(doc, "w").write(s)
PY
  echo "[bench] updated $doc" >&2
}
