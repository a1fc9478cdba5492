// libxcrypt (Debian's libcrypt1): the system's audited bcrypt implementation, used only to verify imported hashes.
#include <crypt.h>
