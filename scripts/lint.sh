#!/bin/sh
# Source checks: bans the C functions we never use (unbounded or
# error-swallowing), as curl and git do.
set -eu
cd "$(dirname "$0")/.."
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok)\s*\('
if grep -rnE "$banned" src tests/unit --include='*.c' --include='*.h'; then
  echo "lint: banned function used above (use snprintf, strtol, strtok_r, memcpy with a length)" >&2
  exit 1
fi

# Layers: core includes nothing above it, domain nothing but core (the
# core-only build of scripts/core-only.sh proves the first as well).
# main.c reaches the services only through the module table (src/app).
if grep -rnE '#include "(domain|svc|app)/' src/core || grep -rnE '#include "(svc|app)/' src/domain ||
  grep -nE '#include "(domain|svc)/' src/main.c; then
  echo "lint: an include above crosses the layers (main -> app -> svc -> domain -> core)" >&2
  exit 1
fi

# Threads start through thread_start (src/core/base/thread.c), which keeps
# the process's signals away from them.
if grep -rn 'pthread_create' src --include='*.c' | grep -v '^src/core/base/thread.c:'; then
  echo "lint: start threads with thread_start (core/base/thread.h), not pthread_create" >&2
  exit 1
fi

# Formatting: .clang-format is the style; a diff here means run
#   clang-format -i $(git ls-files '*.c' '*.h')
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests -name '*.[ch]')
if ! clang-format --dry-run -Werror $files 2>/dev/null; then
  clang-format --dry-run $files 2>&1 | head -n 20 >&2
  echo "lint: formatting differs from .clang-format (see above)" >&2
  exit 1
fi
