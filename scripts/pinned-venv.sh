# Sourced by the scripts that use tools from PyPI (check-openapi.sh, check-deploy.sh, browser-test.sh).
#   pinned_venv VENV REQUIREMENTS     installs REQUIREMENTS (every version pinned) into the virtualenv VENV; it
#                                     reinstalls only when the pins changed: a stamp holds the hash of the file last
#                                     installed. Calls the script's `step` to say so; returns non-zero if pip fails.
pinned_venv() {
    local venv=$1 requirements=$2
    local stamp="$venv/.requirements.sha256" wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
        step "installing the pinned tools into ${venv##*/}/"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" || return 1
        echo "$wanted" >"$stamp"
    fi
}
