# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for mortar(1).  The candidates come from the program
# itself (`mortar --complete WORD...`, from the tables it dispatches and
# parses with), so they follow the installed version; this file only
# joins the words again and fills in files, folders, groups and commands.

_mortar()
{
	local i w words=() rlw pre line out
	local -a found

	# bash splits "--output=json" and "file:///x" at '=' and ':' (see
	# COMP_WORDBREAKS); mortar parses them whole.  Join them back.
	for ((i = 1; i <= COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((${#words[@]})) && [[ $w == [=:] || ${words[-1]} == *[=:] ]]; then
			words[-1]+=$w
		else
			words+=("$w")
		fi
	done
	((${#words[@]})) || words=("")
	# What readline replaces: the text after the last break in the word.
	rlw=${COMP_WORDS[COMP_CWORD]}
	[[ $rlw == [=:] ]] && rlw=
	pre=${words[-1]%"$rlw"}

	out=$("${COMP_WORDS[0]}" --complete "${words[@]}" 2>/dev/null) || return 0
	COMPREPLY=()
	while IFS= read -r line; do
		case $line in
		'') ;;
		@files | @dirs)
			compopt -o filenames 2>/dev/null
			if [[ $line == @dirs ]]; then
				mapfile -t found < <(compgen -d -- "$rlw")
			else
				mapfile -t found < <(compgen -f -- "$rlw")
			fi
			COMPREPLY+=("${found[@]}") ;;
		@groups) mapfile -t found < <(compgen -g -- "$rlw"); COMPREPLY+=("${found[@]}") ;;
		@commands) mapfile -t found < <(compgen -c -- "$rlw"); COMPREPLY+=("${found[@]}") ;;
		*) COMPREPLY+=("${line#"$pre"}") ;;
		esac
	done <<<"$out"
}

complete -F _mortar mortar
