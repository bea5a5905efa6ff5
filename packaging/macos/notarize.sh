#!/bin/sh
# Notarise a signed .dmg with Apple and staple the ticket so Gatekeeper accepts it offline.
#   POTMINER_NOTARY_PROFILE=potminer packaging/macos/notarize.sh dist/PoT_Miner-0.1.0-macos-arm64.dmg
# The profile is created once per machine (CI: from secrets) with
#   xcrun notarytool store-credentials potminer --apple-id ID --team-id TEAM --password APP_SPECIFIC_PASSWORD
set -eu
dmg=${1:?usage: notarize.sh DMG}
profile=${POTMINER_NOTARY_PROFILE:?set POTMINER_NOTARY_PROFILE to a notarytool keychain profile}
xcrun notarytool submit "$dmg" --keychain-profile "$profile" --wait
xcrun stapler staple "$dmg"
xcrun stapler validate "$dmg"
spctl --assess --type open --context context:primary-signature --verbose=2 "$dmg"
