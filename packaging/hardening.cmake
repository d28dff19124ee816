# Hardening for every optimized build (what cpack packages): the flags dpkg-buildflags gives a
# Debian package, so that lintian's hardening checks pass and a buffer overflow in a fortified
# libc call aborts instead of writing on. Debug builds keep plain flags (_FORTIFY_SOURCE needs
# optimization), and so do sanitizer builds (ASan replaces the fortified functions).
if(NOT SPEC_HYGIENE_SANITIZE)
  set(spec_hygiene_optimized $<NOT:$<CONFIG:Debug>>)
  # -U first: a compiler that defines it already would warn about the redefinition.
  target_compile_options(spec_hygiene_warnings INTERFACE
    $<${spec_hygiene_optimized}:-U_FORTIFY_SOURCE> $<${spec_hygiene_optimized}:-D_FORTIFY_SOURCE=2>
    -fstack-protector-strong -fstack-clash-protection)
  target_link_options(spec_hygiene_warnings INTERFACE LINKER:-z,relro LINKER:-z,now)
endif()
