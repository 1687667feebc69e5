#!/bin/sh
# The VM test's check, run by /init inside the guest (stock Debian kernel, busybox sh).
#
#   guest-check.sh [all|smoke|full]
#
# smoke: ipvlan (l2/l3/l3s) and macvlan children made with iproute2 must show up in
#        `netview inventory --all --json` with their kind, mode and parent.
# full:  for each group of lab containers (every mode and submode; groups that the kernel or
#        the lab cannot hold together get their own `lab up`/`lab down`): `netview probe --json
#        --check`, then the oracle (iputils ping, arping) for every ICMP/ARP pair from the same
#        namespace; netview and the oracle must agree on every pair, --check must exit 0, and
#        `lab down` must leave nothing behind.
# Prints one line per finding, a summary, and exits 0 only if every selected part passed.
#
# Debian's busybox sh runs its own applets before PATH (its `ip` lacks netns and ipvlan): the
# real programs are called by their full paths.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
IP=/sbin/ip
NV=/usr/bin/netview
PING=/usr/bin/ping
ARPING=/usr/sbin/arping
NFT=/usr/sbin/nft
PARALLEL=${NVVM_PARALLEL:-48}
ORACLE=${NVVM_ORACLE:-iputils}
GROUPS_WANTED=${NVVM_GROUPS:-}
BB=/bin/busybox
# Thomas Habets' arping (Debian's `arping` package) and iputils' arping spell options apart.
ARPING_STYLE=iputils
$ARPING --help 2>&1 | grep -q Habets && ARPING_STYLE=habets

part=${1:-all}
failures=0
# The packet walk's expectations over every group: cells, null ones, ones that differ.
walk_cells=0
walk_null=0
walk_differ=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { echo "ok: $*"; }
info() { echo "info: $*"; }
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

work=/tmp/nvvm
rm -rf "$work"
mkdir -p "$work"

# One line per link of `netview inventory --all --json` (compact JSON, one line):
#   NETNS NAME KIND MODE PARENT_NETNS PARENT_NAME     (absent values: -)
inventory_links() {
  awk '
  function field(s, key,   re) {
    re = "\"" key "\":(\"[^\"]*\"|null)"
    if (!match(s, re)) return "-"
    v = substr(s, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    if (v == "null") return "-"
    gsub(/"/, "", v)
    return v
  }
  {
    n = split($0, parts, /\{"index":/)
    ns = "-"
    for (i = 1; i <= n; i++) {
      p = parts[i]
      if (i > 1) {
        pn = "-"; pname = "-"
        if (match(p, /"parent":\{[^}]*\}/)) {
          par = substr(p, RSTART, RLENGTH)
          pn = field(par, "netns"); pname = field(par, "name")
        }
        print ns, field(p, "name"), field(p, "kind"), field(p, "mode"), pn, pname
      }
      # A namespace header in this part names the namespace of the links that follow.
      rest = p
      while (match(rest, /\{"name":"[^"]*","id":/)) {
        ns = substr(rest, RSTART + 9, RLENGTH - 16)
        rest = substr(rest, RSTART + RLENGTH)
      }
    }
  }'
}

# ---------------------------------------------------------------------------------------------
smoke() {
  local t0 expect m i ns parent got want kmode k1 n1 name kind mode pns pname ci pi
  echo "--- smoke: ipvlan and macvlan children in netview's inventory"
  t0=$(now_ms)
  $IP netns add nvvm-lan || {
    fail "smoke: ip netns add"
    return
  }
  expect="$work/smoke-expect"
  : >"$expect"
  # One parent per ipvlan mode: an ipvlan port has one mode shared by all its children.
  for m in l2 l3 l3s; do
    $IP -n nvvm-lan link add "up-$m" type veth peer name "dn-$m" &&
      $IP -n nvvm-lan link set "up-$m" up &&
      $IP -n nvvm-lan link set "dn-$m" up || fail "smoke: parent up-$m"
    for i in 1 2; do
      ns="nvvm-$m-$i"
      $IP netns add "$ns"
      if $IP -n nvvm-lan link add "iv$i" link "up-$m" type ipvlan mode "$m" &&
        $IP -n nvvm-lan link set "iv$i" netns "$ns"; then
        echo "$ns iv$i ipvlan $m nvvm-lan up-$m" >>"$expect"
      else
        fail "smoke: ip link add ipvlan mode $m (does this kernel have ipvlan?)"
      fi
    done
  done
  # macvlan, one parent for all modes but passthru (which takes a parent alone).
  $IP -n nvvm-lan link add up-mv type veth peer name dn-mv
  $IP -n nvvm-lan link add up-pt type veth peer name dn-pt
  for m in bridge private vepa passthru; do
    parent=up-mv
    [ "$m" = passthru ] && parent=up-pt
    ns="nvvm-mv-$m"
    $IP netns add "$ns"
    if $IP -n nvvm-lan link add mv0 link "$parent" type macvlan mode "$m" &&
      $IP -n nvvm-lan link set mv0 netns "$ns"; then
      echo "$ns mv0 macvlan $m nvvm-lan $parent" >>"$expect"
    else
      fail "smoke: ip link add macvlan mode $m"
    fi
  done

  if ! $NV inventory --all --json >"$work/inventory.json" 2>"$work/inventory.err"; then
    fail "smoke: netview inventory --all --json failed: $(head -c 300 "$work/inventory.err")"
  fi
  inventory_links <"$work/inventory.json" >"$work/links"
  while read -r ns name kind mode pns pname; do
    got=$(awk -v ns="$ns" -v name="$name" '$1 == ns && $2 == name' "$work/links")
    want="$ns $name $kind $mode $pns $pname"
    if [ "$got" = "$want" ]; then
      ok "inventory: $want"
    else
      fail "inventory: want '$want', netview shows '${got:-nothing}'"
    fi
    # The kernel's own word (iproute2) on the same link, so a wrong expectation shows too.
    kmode=$($IP -n "$ns" -d link show "$name" | awk -v k="$kind" '$1 == k && $2 == "mode" { print $3; exit }')
    [ "$kmode" = "$mode" ] || fail "iproute2 says $ns/$name is $kind mode '${kmode:-?}', created as $mode"
  done <"$expect"

  # ipvlan l2 siblings reach each other (the kernel works as the lab expects).
  $IP -n nvvm-l2-1 addr add 10.77.0.1/24 dev iv1 && $IP -n nvvm-l2-1 link set iv1 up
  $IP -n nvvm-l2-2 addr add 10.77.0.2/24 dev iv2 && $IP -n nvvm-l2-2 link set iv2 up
  if $IP netns exec nvvm-l2-1 $PING -n -c1 -W1 10.77.0.2 >/dev/null 2>&1; then
    ok "ping between ipvlan l2 siblings"
  else
    fail "ping between ipvlan l2 siblings"
  fi

  # Finding: an ipvlan port has one mode; a child added in another mode changes it for all.
  $IP -n nvvm-lan link add up-mix type veth peer name dn-mix
  $IP -n nvvm-lan link add ivm1 link up-mix type ipvlan mode l2
  $IP -n nvvm-lan link add ivm2 link up-mix type ipvlan mode l3 2>"$work/mix.err" || true
  k1=$($IP -n nvvm-lan -d link show ivm1 | awk '$1 == "ipvlan" { print $3; exit }')
  $NV inventory --netns nvvm-lan --json | inventory_links >"$work/mix-links"
  n1=$(awk '$2 == "ivm1" { print $4 }' "$work/mix-links")
  info "ipvlan port mode: child made l2, then a sibling made l3 ($(head -c 100 "$work/mix.err")): iproute2 shows the first child as ${k1:-?}, netview as ${n1:-?}"
  [ "$k1" = "$n1" ] || fail "netview and iproute2 disagree on ivm1's ipvlan mode ($n1 vs $k1)"

  # A child made straight into a fresh namespace gets the ifindex its parent has in the other
  # namespace (the lab's children do): IFLA_LINK then equals the child's own index, and only
  # IFLA_LINK_NETNSID says it is another namespace's. Shown here; the full part's inventory
  # check fails on it (the lab makes such children).
  $IP netns add nvvm-same
  $IP netns add nvvm-same-p
  $IP -n nvvm-same-p link add p1 type veth peer name p0
  $IP -n nvvm-same-p link add ivs link p0 netns nvvm-same type ipvlan mode l2
  ci=$($IP -n nvvm-same -o link show ivs | awk -F: '{ print $1 }')
  pi=$($IP -n nvvm-same-p -o link show p0 | awk -F: '{ print $1 }')
  $NV inventory --netns nvvm-same --netns nvvm-same-p --json | inventory_links >"$work/same-links"
  info "ipvlan child with ifindex $ci, parent p0 ifindex $pi in another namespace: netview shows $(awk '$2 == "ivs"' "$work/same-links")"

  for ns in $($IP netns list | awk '$1 ~ /^nvvm-/ { print $1 }'); do $IP netns del "$ns"; done
  echo "smoke: $(($(now_ms) - t0)) ms"
}

# ---------------------------------------------------------------------------------------------
# The objects of the array KEY in the JSON on stdin (pretty or not), one line each, with their
# own fields only: nested objects and arrays become N, so a field of a nested object can never
# be taken for the object's own. (busybox has no jq; serde may order keys either way.)
json_array_objects() {
  # Line by line: busybox awk's substr on one string holding the whole document made this
  # quadratic, and a probe run whose results carry the walk's paths (hundreds of kB) then
  # never finished within the VM's timeout.
  awk -v key="$1" '
  BEGIN { started = 0; depth = 0; instr = 0; esc = 0; obj = "" }
  {
    line = $0 "\n"
    if (!started) {
      i = index(line, "\"" key "\":")
      if (!i) next
      line = substr(line, i + length(key) + 3)
      started = 1
    }
    n = length(line)
    for (j = 1; j <= n; j++) {
      c = substr(line, j, 1)
      if (instr) {
        if (depth == 2) obj = obj c
        if (esc) esc = 0
        else if (c == "\\") esc = 1
        else if (c == "\"") instr = 0
        continue
      }
      if (c == "\"") { instr = 1; if (depth == 2) obj = obj c; continue }
      if (c == "{" || c == "[") {
        depth++
        if (depth == 2) obj = ""
        else if (depth == 3) obj = obj "N"
        continue
      }
      if (c == "}" || c == "]") {
        depth--
        if (depth <= 0) exit
        if (depth == 1) print obj
        continue
      }
      if (depth == 2 && c != " " && c != "\n" && c != "\t") obj = obj c
    }
  }'
}

# A field of one json_array_objects line: the string without quotes, or true/false/null/number.
json_fields() {
  awk -v keys="$*" '
  function field(s, key,   re, v) {
    re = "\"" key "\":(\"[^\"]*\"|[-0-9.a-zA-Z]+)"
    if (!match(s, re)) return "-"
    v = substr(s, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
    gsub(/"/, "", v)
    if (v == "null" || v == "") return "-"
    return v
  }
  BEGIN { nk = split(keys, k, " ") }
  {
    line = ""
    for (i = 1; i <= nk; i++) line = line (i > 1 ? " " : "") field($0, k[i])
    print line
  }'
}

# Endpoints of `netview lab ls --json` as lines:
#   NAME STACK_NETNS IFNAME ROLE MODE SUBMODE PARENT   (null: -)
lab_endpoints() {
  json_array_objects endpoints | json_fields name stack_netns ifname role mode submode parent
}

# The lab's macvlan/ipvlan children must show in `netview inventory --all --json` with their
# kind, mode and parent (the host's LAN interface, in the host's namespace).
check_lab_inventory() {
  local name eps host_ns n ns ifname role mode submode parent got want
  name=$1
  eps=$2
  host_ns=$(awk '$4 == "host" { print $2; exit }' "$eps")
  if ! $NV inventory --all --json 2>/dev/null | inventory_links >"$work/$name/links"; then
    fail "$name: netview inventory --all --json failed"
    return
  fi
  while read -r n ns ifname role mode submode parent; do
    case "$mode" in macvlan | ipvlan) ;; *) continue ;; esac
    want="$ns $ifname $mode $submode $host_ns $parent"
    got=$(awk -v ns="$ns" -v name="$ifname" '$1 == ns && $2 == name' "$work/$name/links")
    if [ "$got" = "$want" ]; then
      ok "$name: inventory shows $n as $want"
    else
      fail "$name: inventory: want '$want' for $n, netview shows '${got:-nothing}'"
    fi
  done <"$eps"
}

# Results of `netview probe --json` as lines:
#   FROM TO TARGET KIND REACHABLE MISMATCH OUTCOME EXPECTED ARP_MAC WHY   (OUTCOME N: an
#   object; EXPECTED is the packet walk's prediction, - when it is null; WHY, the walk's reason,
#   is the rest of the line)
probe_results() {
  # The walk's paths (a pretty-printed array of hops per result) are dropped first: they are
  # most of the document and nothing here reads them.
  sed '/"path": \[$/,/^ *\],\{0,1\}$/d' |
    json_array_objects results | json_fields from to target_ip kind reachable mismatch outcome expected arp_mac why
}

# The interface and source address namespace NS (- for the guest's own) uses for TARGET, as
# the kernel's routing says (`ip route get`): with a host shim, the route to the macvlan range
# leaves through the shim, not the parent. Prints "IFNAME SRC" or nothing.
arp_source() {
  local ns target
  ns=$1
  target=$2
  if [ "$ns" = - ]; then
    $IP -o -4 route get "$target" 2>/dev/null
  else
    $IP -n "$ns" -o -4 route get "$target" 2>/dev/null
  fi | awk '{
    for (i = 1; i < NF; i++) {
      if ($i == "dev") dev = $(i + 1)
      if ($i == "src") src = $(i + 1)
    }
  }
  END { if (dev != "" && src != "") print dev " " src }'
}

# Run the oracle for every ICMP/ARP result in $1 (probe_results lines), endpoints in $2; writes
# one exit status per line number into $3/N.
run_oracle() {
  local results eps dir i running from to target kind reach mismatch outcome expected mac why ns nsexec src
  results=$1
  eps=$2
  dir=$3
  mkdir -p "$dir"
  i=0
  running=0
  while read -r from to target kind reach mismatch outcome expected mac why; do
    i=$((i + 1))
    ns=$(awk -v n="$from" '$1 == n { print $2; exit }' "$eps")
    if [ -z "$ns" ]; then
      echo unknown-endpoint >"$dir/$i"
      continue
    fi
    # busybox nsenter: only setns, cheaper under TCG than ip netns exec (which also makes a
    # mount namespace and remounts /sys); the same network namespace either way.
    nsexec=""
    [ "$ns" != - ] && nsexec="$BB nsenter --net=/run/netns/$ns"
    case "$kind" in
    icmp)
      if [ "$ORACLE" = busybox ]; then
        ($nsexec $BB ping -c1 -W1 "$target" </dev/null >/dev/null 2>&1
          echo $? >"$dir/$i") &
      else
        ($nsexec $PING -n -c1 -W1 "$target" </dev/null >/dev/null 2>&1
          echo $? >"$dir/$i") &
      fi
      ;;
    arp)
      src=$(arp_source "$ns" "$target")
      if [ -z "$src" ]; then
        echo no-on-link-interface >"$dir/$i"
        continue
      fi
      set -- $src
      if [ "$ORACLE" = busybox ]; then
        ($nsexec $BB arping -q -c 1 -w 1 -I "$1" -s "$2" "$target" </dev/null >/dev/null 2>&1
          echo $? >"$dir/$i") &
      elif [ "$ARPING_STYLE" = habets ]; then
        ($nsexec $ARPING -q -c 1 -w 1 -i "$1" -S "$2" "$target" </dev/null >/dev/null 2>&1
          echo $? >"$dir/$i") &
      else
        ($nsexec $ARPING -q -c 1 -w 1 -I "$1" -s "$2" "$target" </dev/null >/dev/null 2>&1
          echo $? >"$dir/$i") &
      fi
      ;;
    *)
      echo no-oracle >"$dir/$i"
      continue
      ;;
    esac
    running=$((running + 1))
    if [ "$running" -ge "$PARALLEL" ]; then
      wait
      running=0
    fi
  done <"$results"
  wait
}

leftovers() {
  local left l
  left=""
  l=$($IP netns list | awk '{ print $1 }' | tr '\n' ' ')
  [ -n "$l" ] && left="$left netns: $l;"
  l=$($IP -o link show | awk -F': ' '$2 != "lo" { print $2 }' | tr '\n' ' ')
  [ -n "$l" ] && left="$left links: $l;"
  l=$($NFT list tables 2>/dev/null | tr '\n' ' ')
  [ -n "$l" ] && left="$left nft: $l;"
  l=$(find /run/netview -type f ! -name '*.lock' 2>/dev/null | tr '\n' ' ')
  [ -n "$l" ] && left="$left /run/netview: $l;"
  echo "$left"
}

# group NAME "LAB UP ARGS" "LAB ADD ARGS" ["LAB ADD ARGS"]...
group() {
  local name up gfail t0 gdir add tp check_rc total t_oracle i agree disagree mism unk ns
  local from to target kind reach mismatch outcome expected mac why o oracle mark left
  name=$1
  up=$2
  shift 2
  if [ -n "$GROUPS_WANTED" ] && ! echo ",$GROUPS_WANTED," | grep -q ",$name,"; then
    return
  fi
  gfail=$failures
  t0=$(now_ms)
  echo "--- group $name: lab up $up"
  gdir="$work/$name"
  mkdir -p "$gdir"
  # shellcheck disable=SC2086
  if ! $NV lab up $up >"$gdir/up.out" 2>&1; then
    fail "$name: netview lab up $up: $(tail -c 300 "$gdir/up.out")"
    $NV lab down >/dev/null 2>&1
    return
  fi
  for add in "$@"; do
    # shellcheck disable=SC2086
    if ! $NV lab add $add >"$gdir/add.out" 2>&1; then
      fail "$name: netview lab add $add: $(tail -c 300 "$gdir/add.out")"
    fi
  done
  $NV lab ls >"$gdir/ls.txt" 2>&1
  sed 's/^/  | /' "$gdir/ls.txt"
  $NV lab ls --json 2>/dev/null | lab_endpoints >"$gdir/eps"
  check_lab_inventory "$name" "$gdir/eps"
  echo "  inventory checked"
  tp=$(now_ms)
  # 3 s, not the default 1 s: every pair is in flight at once on an emulated CPU, and with the
  # host busy (other builds beside the VM) 16 of 98 replies took longer than 1 s while ping,
  # one pair at a time, still saw them within its 1 s.
  $NV probe --json --check --timeout-ms 3000 >"$gdir/probe.json" 2>"$gdir/probe.err"
  check_rc=$?
  tp=$(($(now_ms) - tp))
  echo "  probe: exit $check_rc in $tp ms"
  probe_results <"$gdir/probe.json" >"$gdir/results"
  total=$(wc -l <"$gdir/results")
  if [ "$total" -eq 0 ]; then
    fail "$name: netview probe --json --check gave no results (exit $check_rc): $(head -c 300 "$gdir/probe.err")"
  else
    # Fresh neighbour tables, so the oracle resolves as the probes did.
    for ns in $(awk '$2 != "-" { print $2 }' "$gdir/eps" | sort -u); do
      $IP -n "$ns" neigh flush all 2>/dev/null
    done
    t_oracle=$(now_ms)
    run_oracle "$gdir/results" "$gdir/eps" "$gdir/oracle"
    t_oracle=$(($(now_ms) - t_oracle))
    i=0
    agree=0
    disagree=0
    mism=0
    unk=0
    while read -r from to target kind reach mismatch outcome expected mac why; do
      i=$((i + 1))
      o=$(cat "$gdir/oracle/$i" 2>/dev/null)
      case "$o" in
      0) oracle=true ;;
      [0-9]*) oracle=false ;;
      *) oracle="${o:-none}" ;;
      esac
      mark=""
      # The packet walk is the oracle of the expectation: it must agree with the kernel
      # (mismatch false) or say it cannot predict (expected null, shown with its reason).
      [ "$mismatch" = true ] && mark=" walk-differs(expected=$expected: $why)" && mism=$((mism + 1))
      [ "$expected" = - ] && mark=" walk-null($why)" && unk=$((unk + 1))
      if [ "$reach" = "$oracle" ]; then
        agree=$((agree + 1))
      else
        mark="$mark DISAGREE"
        disagree=$((disagree + 1))
      fi
      [ "$mac" != - ] && mark=" mac=$mac$mark"
      echo "pair $from $to $target $kind netview=$reach oracle=$oracle outcome=$outcome$mark"
    done <"$gdir/results"
    echo "$name: $total pairs, $agree agree, $disagree disagree with the oracle; walk: $total cells, $((total - unk - mism)) agree, $unk null, $mism differ; probe ${tp} ms, oracle ${t_oracle} ms"
    [ "$disagree" -eq 0 ] || fail "$name: netview and the oracle disagree on $disagree of $total pairs"
    # Fewer than 2% of the cells may be null (no prediction).
    [ $((unk * 50)) -lt "$total" ] || fail "$name: the walk predicts nothing for $unk of $total cells (2% allowed)"
    walk_cells=$((walk_cells + total))
    walk_null=$((walk_null + unk))
    walk_differ=$((walk_differ + mism))
    if [ "$check_rc" -ne 0 ]; then
      fail "$name: netview probe --check exited $check_rc ($mism cells differ from the walk's expectation)"
      grep -v '^[[:space:]]*$' "$gdir/probe.err" | head -5 | sed 's/^/  | /'
    fi
  fi
  if ! $NV lab down >"$gdir/down.out" 2>&1; then
    fail "$name: netview lab down: $(tail -c 300 "$gdir/down.out")"
  fi
  left=$(leftovers)
  [ -z "$left" ] || fail "$name: left after lab down:$left"
  if [ "$failures" -eq "$gfail" ]; then
    ok "group $name ($(($(now_ms) - t0)) ms)"
  else
    echo "group $name: FAIL ($(($(now_ms) - t0)) ms)"
  fi
}

full() {
  echo "--- full: every mode in the lab, netview probe vs ping/arping"
  # A binary from before the lab and probes were merged lacks `lab ls` or `probe --json`, or
  # says "not built yet".
  lab_ls=$($NV lab ls --json 2>&1)
  lab_rc=$?
  probe_out=$($NV probe --json --timeout-ms 1 2>&1)
  if ! $NV lab --help >/dev/null 2>&1 || ! $NV probe --help >/dev/null 2>&1 ||
    echo "$lab_ls $probe_out" | grep -qE "not built|unrecognized subcommand|unexpected argument"; then
    fail "SKIPPED: lab/probe not in this binary ($(echo "$lab_ls $probe_out" | tr "\n" " " | head -c 160))"
    return
  fi
  [ "$lab_rc" -eq 0 ] || info "lab ls before any lab: exit $lab_rc: $(echo "$lab_ls" | head -c 200)"
  before=$(leftovers)
  [ -z "$before" ] || info "before the lab: $before"
  # macvlan and ipvlan cannot share a parent, passthru takes its parent alone, an ipvlan port
  # has one mode, and hairpin is lab-wide: one lab per group.
  group bridge-host-none "" "br1 br2 --mode bridge" "none1 --mode none" "host1 --mode host"
  group bridge-no-nat "" "bn1 bn2 --mode bridge --no-nat"
  group macvlan-bridge-private "" \
    "mvb1 mvb2 --mode macvlan --macvlan-mode bridge" \
    "mvp1 mvp2 --mode macvlan --macvlan-mode private"
  group macvlan-vepa "" "mvv1 mvv2 --mode macvlan --macvlan-mode vepa"
  group macvlan-vepa-hairpin "--hairpin" "mvv1 mvv2 --mode macvlan --macvlan-mode vepa"
  group macvlan-passthru "" "mpt1 --mode macvlan --macvlan-mode passthru"
  group macvlan-shim "" "mvs1 mvs2 --mode macvlan --host-shim"
  group ipvlan-l2 "" "ivl2a ivl2b --mode ipvlan --ipvlan-mode l2"
  group ipvlan-l3 "" "ivl3a ivl3b --mode ipvlan --ipvlan-mode l3"
  group ipvlan-l3s "" "ivl3sa ivl3sb --mode ipvlan --ipvlan-mode l3s"
  # An ipvlan port has one mode for all its children: the kernel would switch an l2 child to
  # l3 when an l3 sibling arrives. The lab must refuse the second mode (exit 2), leaving the
  # first child as it was.
  if [ -z "$GROUPS_WANTED" ] || echo ",$GROUPS_WANTED," | grep -q ",ipvlan-mixed,"; then
    echo "--- group ipvlan-mixed: an l3 child next to an l2 one is refused"
    if $NV lab up >/dev/null 2>&1 && $NV lab add ivxa --mode ipvlan --ipvlan-mode l2 >/dev/null 2>&1; then
      out=$($NV lab add ivxb --mode ipvlan --ipvlan-mode l3 2>&1)
      rc=$?
      if [ "$rc" = 2 ] && echo "$out" | grep -q "share one mode"; then
        echo "  refused: $out"
      else
        fail "ipvlan-mixed: lab add of an l3 child next to an l2 one gave exit $rc: $out"
      fi
      mode=$(/sbin/ip -n nv-ivxa -d link show eth0 | grep -o "ipvlan  *mode [a-z0-9]*" | awk '{print $3}')
      [ "$mode" = "l2" ] || fail "ipvlan-mixed: the l2 child is now in mode '$mode'"
    else
      fail "ipvlan-mixed: lab up or the first ipvlan child failed"
    fi
    $NV lab down >/dev/null 2>&1
  fi
}

t_start=$(now_ms)
echo "kernel: $(uname -r)"
echo "netview: $($NV --version 2>&1)"
echo "oracle: $ORACLE${GROUPS_WANTED:+, groups $GROUPS_WANTED}"
case "$part" in
smoke) smoke ;;
full) full ;;
*)
  smoke
  full
  ;;
esac
echo "--- summary"
[ "$walk_cells" -gt 0 ] && echo "walk: $walk_cells cells, $((walk_cells - walk_null - walk_differ)) agree, $walk_null null, $walk_differ differ"
echo "guest check: $(($(now_ms) - t_start)) ms, $failures failure(s)"
[ "$failures" -eq 0 ]
