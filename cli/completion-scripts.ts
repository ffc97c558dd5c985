/**
 * The scripts `ckpt completion` prints. Each sends the words up to the cursor to
 * `ckpt __complete` (cli/completion.ts) and offers what comes back, one candidate a line; when the
 * answer is {@link FILES} alone, it completes file names itself.
 */

/** Printed alone when file names are wanted. */
export const FILES = '# files'

export const BASH_SCRIPT = `###-begin-ckpt-completions-###
# bash completion for ckpt: add \`source <(ckpt completion bash)\` to ~/.bashrc
_ckpt_completions() {
    local line="\${COMP_LINE:0:COMP_POINT}" cur reply candidate
    local -a words
    # Split on blanks only: REV:STAGE stays one word, whatever COMP_WORDBREAKS holds.
    read -ra words <<< "$line"
    if [[ -z "$line" || "$line" == *[[:space:]] ]]; then words+=(""); fi
    cur="\${words[\${#words[@]}-1]}"
    reply="$(ckpt __complete "\${words[@]}" 2>/dev/null)"
    COMPREPLY=()
    if [[ "$reply" == "${FILES}" ]]; then
        compopt -o filenames 2>/dev/null
        while IFS= read -r candidate; do COMPREPLY+=("$candidate"); done < <(compgen -f -- "$cur")
        return 0
    fi
    # bash replaces only what follows the last ':' of the word: leave out what is typed before it.
    local typed=""
    if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then typed="\${cur%"\${cur##*:}"}"; fi
    while IFS= read -r candidate; do
        [[ -n "$candidate" && "$candidate" == "$cur"* ]] && COMPREPLY+=("\${candidate#"$typed"}")
    done <<< "$reply"
    return 0
}
complete -F _ckpt_completions ckpt
###-end-ckpt-completions-###`

export const ZSH_SCRIPT = `#compdef ckpt
###-begin-ckpt-completions-###
# zsh completion for ckpt: write it as _ckpt into a folder of $fpath, or source it after compinit
_ckpt() {
    local -a candidates
    local reply
    reply="$(ckpt __complete "\${(@)words[1,CURRENT]}" 2>/dev/null)"
    if [[ "$reply" == "${FILES}" ]]; then
        _files
        return
    fi
    candidates=("\${(@f)reply}")
    candidates=("\${(@)candidates:#}")
    (( \${#candidates} )) && compadd -Q -- "\${candidates[@]}"
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
    _ckpt "$@"
else
    compdef _ckpt ckpt
fi
###-end-ckpt-completions-###`
