# shellcheck shell=bash
# README.md's "Getting started", read by the tests that hold it to its word
# (test-readme.sh runs it, test-demo.sh compares the demo's commands with
# it). Its code blocks are fenced with a marker after the language:
#   ```ini file=/etc/umc/umcd.conf     the whole content of that file
#   ```sh step=keys                    commands of one step, run in order
# Needs lib.sh (ITEST_ROOT, itest_die).

README=$ITEST_ROOT/README.md

# readme_block KIND=NAME: the block's lines, its fence's indentation removed.
readme_block() {
        local out
        out=$(awk -v want="$1" '
                !inblock && match($0, /^ *```[a-z]* /) {
                        n = split($0, w, " ")
                        if (w[n] == want) { inblock = 1; indent = RLENGTH - length(w[n - 1]) - 1
                                            sub(/```.*/, "", indent); found = 1; next }
                }
                inblock && $0 ~ /^ *```$/ { inblock = 0; next }
                inblock { print substr($0, indent + 1) }
                END { exit !found }' "$README") || itest_die "README.md has no block $1"
        printf '%s\n' "$out"
}

# readme_files: the paths of the file= blocks, in order.
readme_files() {
        grep -o '^ *```[a-z]* file=[^ ]*$' "$README" | sed 's/.*file=//'
}

# join_lines: continuation lines (a line ending in \) joined, "# comment"
# tails dropped.
join_lines() {
        sed -e ':a' -e '/\\$/N; s/\\\n[ ]*/ /; ta' | sed 's/[ ]\+#[^'"'"'"]*$//'
}

# readme_commands STEP...: the commands of those steps, one a line.
readme_commands() {
        local s
        for s in "$@"; do readme_block "step=$s" | join_lines; done
}

# cmd_signatures LINE: one line per command in LINE (split at ; and &&):
# the command, its subcommand (openssl, umc-pack, umcctl) and its options
# without values, in order; --config (a path) and runuser's wrapping are
# left out, so that the same command with other paths compares equal.
cmd_signatures() {
        local seg words w sig
        printf '%s\n' "$1" | sed 's/&&/\n/g; s/;/\n/g' | while IFS= read -r seg; do
                seg=$(printf '%s\n' "$seg" | sed 's/^[ (]*//; s/[ )]*$//; s/^runuser -u [^ ]* -- //; s/ *>.*//')
                [ -n "$seg" ] || continue
                mapfile -t words < <(printf '%s\n' "$seg" | xargs -n1 printf '%s\n' 2>/dev/null)
                [ "${#words[@]}" -gt 0 ] || continue
                sig=${words[0]}
                case $sig in openssl|umc-pack|umcctl) sig+=" ${words[1]:-}" ;; esac
                for w in "${words[@]:1}"; do
                        case $w in --config|--config=*) ;; -*) sig+=" ${w%%=*}" ;; esac
                done
                printf '%s\n' "$sig"
        done
}
