# bash completion for zdd, vibe-zero-downtime and drain-inspector. The package installs this one
# file under each name in /usr/share/bash-completion/completions (loaded on first use); without
# bash-completion, `source` it from ~/.bashrc. Subcommands and options are read from the tool's
# own --help, so completion never lags behind the binary it completes.

# The long options of `CMD [SUB] --help`, one per line.
_zdd_help_options() {
    "$@" --help 2>/dev/null | grep -oE -- '(^|[ ,])--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+' |
        sort -u
}

# The names listed under "Subcommands:" in `CMD --help`.
_zdd_subcommands() {
    "$1" --help 2>/dev/null |
        awk '/^Subcommands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^[^ ]/ { on = 0 }'
}

_zdd_complete() {
    local cmd=$1 cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local subs sub="" i
    COMPREPLY=()
    subs=$(_zdd_subcommands "$cmd")
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} != -* ]] && grep -qxF -- "${COMP_WORDS[i]}" <<<"$subs"; then
            sub=${COMP_WORDS[i]}
            break
        fi
    done
    if [[ -z $sub ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$subs --help" -- "$cur")
        return
    fi
    case $prev in
        --color)
            mapfile -t COMPREPLY < <(compgen -W "blue green" -- "$cur")
            return
            ;;
        --backend)
            mapfile -t COMPREPLY < <(compgen -W "auto bpf sock_diag" -- "$cur")
            return
            ;;
        --runner)
            mapfile -t COMPREPLY < <(compgen -W "exec systemd" -- "$cur")
            return
            ;;
        -p | --port)  # the ports something listens on: what drain-inspector usually looks at
            mapfile -t COMPREPLY < <(compgen -W "$(ss -Htln 2>/dev/null |
                awk '{ n = split($4, a, ":"); print a[n] }' | sort -un)" -- "$cur")
            return
            ;;
        --config | --*-file | --*-dir | --dir | --nginx-conf | --nginx-prefix | --nginx-bin | \
            --workdir | --systemctl)
            compopt -o filenames 2>/dev/null || true
            mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            return
            ;;
    esac
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_zdd_help_options "$cmd" "$sub")" -- "$cur")
    elif [[ $sub == deploy ]]; then  # deploy BINARY
        compopt -o filenames 2>/dev/null || true
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}

complete -F _zdd_complete zdd vibe-zero-downtime drain-inspector
