// libxcrypt's crypt_r verifies the bcrypt hashes of --web.config.file's basic_auth_users.
#include <crypt.h>
