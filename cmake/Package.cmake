# `make deb`: Debian packages made by CPack from the install components (cmake/Install.cmake):
#   tessera          the command, the hardened systemd unit, /etc/tessera/tessera.toml (a
#                    conffile), the documentation; its maintainer scripts (packaging/debian)
#                    add the tessera system user and /var/lib/tessera
#   libtessera-dev   libtessera (shared and static), its headers, CMake package, pkg-config
# Dependencies on shared libraries come from dpkg-shlibdeps. Build from a tree configured with
# CMAKE_INSTALL_PREFIX=/usr (the Makefile's deb target does), so that the unit names
# /usr/bin/tessera and /etc/tessera.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tessera)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "tessera")
set(CPACK_PACKAGE_CONTACT "tessera maintainers <tessera@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "authentication server: sessions and access tokens, with revocation pushed to verifiers")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
# Absolute destinations (/etc/tessera) land in the package, not on the building machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME tessera)
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser, init-system-helpers")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/debian/postinst;${PROJECT_SOURCE_DIR}/packaging/debian/prerm;${PROJECT_SOURCE_DIR}/packaging/debian/postrm;${PROJECT_SOURCE_DIR}/packaging/debian/conffiles")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_COMPONENT_SERVER_DESCRIPTION
    "tessera authentication server\n Stateful sessions in HttpOnly cookies and signed access tokens bound to them,\n with revocations pushed to every verifier.")

set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libtessera-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
# What a program linking libtessera.a needs besides it (tessera-static.pc lists the same).
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libssl-dev, libcurl4-openssl-dev, libsqlite3-dev, libhiredis-dev, libpq-dev, libargon2-dev, libcrypt-dev, libqrencode-dev, libunistring-dev, libtomlplusplus-dev, libsimdjson-dev")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION
    "tessera C++ library\n JOSE, sessions and access-token verification with pushed revocations:\n libtessera.so and libtessera.a, headers, CMake package and pkg-config files.")

include(CPack)
