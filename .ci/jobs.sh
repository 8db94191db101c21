# Sourced by the CI scripts whose checks each run on one thread (Miri
# interprets on one, libFuzzer fuzzes on one): runs them side by side.
#
# in_parallel JOBS SHOW WORK NAME...
#   Runs `WORK NAME` for each NAME, at most JOBS at a time (CI has two
#   CPUs), each one's output in a log of its own. When all have ended,
#   prints for each "--- NAME (Ns)" and the lines of its log that match the
#   extended regular expression SHOW, and for each that failed the last 80
#   lines of its log; returns 1 if any failed. Its own variables start
#   with an underscore: bash's locals are seen by the functions it calls,
#   and WORK may read globals such as `work`.
in_parallel() {
    local _max=$1 _show=$2 _work=$3
    shift 3
    local _dir _name _status _secs _failed=0
    _dir=$(mktemp -d)
    for _name in "$@"; do
        while [ "$(jobs -rp | wc -l)" -ge "$_max" ]; do
            wait -n || true
        done
        echo "--- started: $_name"
        (
            _t0=$SECONDS
            _code=0
            "$_work" "$_name" >"$_dir/$_name.log" 2>&1 || _code=$?
            echo "$_code $((SECONDS - _t0))" >"$_dir/$_name.status"
        ) &
    done
    wait
    for _name in "$@"; do
        read -r _status _secs <"$_dir/$_name.status"
        echo "--- $_name (${_secs}s)"
        grep -E "$_show" "$_dir/$_name.log" || true
        if [ "$_status" -ne 0 ]; then
            tail -n 80 "$_dir/$_name.log" >&2
            echo "--- $_name FAILED" >&2
            _failed=1
        fi
    done
    rm -rf "$_dir"
    return "$_failed"
}
