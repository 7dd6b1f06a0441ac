# What `cmake --install` (and `make install PREFIX=...`) puts in place: the tessera command,
# libtessera as a shared and a static library with its public headers, a CMake package
# (find_package(tessera)) and pkg-config files. Included by CMakeLists.txt once every part exists.
#
# libtessera is the library parts that have public headers (include/tessera), not the server or
# the CLI. Both forms are made from the parts' own objects (compiled once, position-independent),
# so adding them costs two links, not a second compilation.
#
# libsodium comes with the library, privately: the Argon2 arena (src/crypto/argon2_arena.h) needs
# the static archive linked with --wrap=mmap,--wrap=munmap.
#   - libtessera.so has its copy inside and exports none of its symbols (--exclude-libs): a
#     program may link its own libsodium beside it.
#   - libtessera.a comes with libtessera-sodium.a (the renamed archive and the arena), and a
#     program that links them links with --wrap=mmap,--wrap=munmap; the CMake package and
#     tessera-static.pc say so.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TESSERA_LIBRARY_PARTS tessera_core tessera_crypto tessera_jose tessera_config tessera_user
    tessera_session tessera_token tessera_verifier tessera_store_memory tessera_store_sqlite
    tessera_store_redis tessera_store_postgres)
# Position-independent, as a shared library needs; -fno-semantic-interposition keeps calls
# between the library's own functions direct (and inlinable), as they are in an executable.
set_target_properties(${TESSERA_LIBRARY_PARTS} tessera_argon2_arena PROPERTIES
  POSITION_INDEPENDENT_CODE ON)
foreach(_part IN LISTS TESSERA_LIBRARY_PARTS ITEMS tessera_argon2_arena)
  target_compile_options(${_part} PRIVATE -fno-semantic-interposition)
endforeach()

# The libraries the parts use, for the shared link and for a program linking the static form.
set(TESSERA_EXTERNAL_LIBRARIES OpenSSL::SSL OpenSSL::Crypto CURL::libcurl SQLite::SQLite3
    PkgConfig::HIREDIS PkgConfig::LIBPQ PkgConfig::ARGON2 PkgConfig::LIBXCRYPT
    PkgConfig::QRENCODE ${UNISTRING_LIB} tomlplusplus::tomlplusplus simdjson::simdjson
    Threads::Threads)
# The same by name, for tessera-static.pc and the static target of the CMake package.
set(TESSERA_STATIC_LINK_NAMES ssl crypto curl sqlite3 hiredis pq argon2 crypt qrencode unistring
    tomlplusplus simdjson)
list(TRANSFORM TESSERA_STATIC_LINK_NAMES PREPEND -l OUTPUT_VARIABLE TESSERA_STATIC_LINK_FLAGS)
list(APPEND TESSERA_STATIC_LINK_FLAGS -pthread)

add_library(tessera_shared SHARED)
add_library(tessera_static STATIC)
foreach(_part IN LISTS TESSERA_LIBRARY_PARTS)
  target_sources(tessera_shared PRIVATE $<TARGET_OBJECTS:${_part}>)
  target_sources(tessera_static PRIVATE $<TARGET_OBJECTS:${_part}>)
  add_dependencies(tessera_shared ${_part})
  add_dependencies(tessera_static ${_part})
endforeach()
target_sources(tessera_shared PRIVATE $<TARGET_OBJECTS:tessera_argon2_arena>)
add_dependencies(tessera_shared tessera_argon2_arena)
set_target_properties(tessera_shared PROPERTIES
  OUTPUT_NAME tessera LINKER_LANGUAGE CXX
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
set_target_properties(tessera_static PROPERTIES OUTPUT_NAME tessera LINKER_LANGUAGE CXX)
target_link_libraries(tessera_shared PRIVATE ${TESSERA_SODIUM_ARCHIVE} ${TESSERA_EXTERNAL_LIBRARIES})
target_link_options(tessera_shared PRIVATE LINKER:--wrap=mmap,--wrap=munmap
                    LINKER:--exclude-libs,libsodium-tessera.a)
if(NOT TESSERA_SANITIZE)
  # Every symbol the library uses is found at its own link (sanitized builds leave the runtime's
  # symbols to the executable).
  target_link_options(tessera_shared PRIVATE LINKER:--no-undefined)
endif()

# libtessera-sodium.a: the renamed libsodium archive with the arena that serves its mappings.
set(TESSERA_SODIUM_BUNDLE "${CMAKE_BINARY_DIR}/libtessera-sodium.a")
add_custom_command(
  OUTPUT ${TESSERA_SODIUM_BUNDLE}
  COMMAND ${CMAKE_COMMAND} -E copy ${TESSERA_SODIUM_ARCHIVE} ${TESSERA_SODIUM_BUNDLE}
  COMMAND ${CMAKE_AR} qs ${TESSERA_SODIUM_BUNDLE} $<TARGET_OBJECTS:tessera_argon2_arena>
  DEPENDS ${TESSERA_SODIUM_ARCHIVE} tessera_argon2_arena
  COMMENT "Bundling libsodium and the Argon2 arena for libtessera.a"
  COMMAND_EXPAND_LISTS VERBATIM)
add_custom_target(tessera_sodium_bundle ALL DEPENDS ${TESSERA_SODIUM_BUNDLE})

# ---- install ------------------------------------------------------------------------------------
# Two components, which the Debian packages follow (cmake/Package.cmake): `server` (the command,
# its systemd unit, the example configuration, the documentation) and `development` (libtessera,
# its headers, the CMake package and pkg-config files). `make install` installs both.
install(TARGETS tessera RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(TARGETS tessera_shared tessera_static
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(FILES ${TESSERA_SODIUM_BUNDLE} DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(DIRECTORY include/tessera DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
        FILES_MATCHING PATTERN "*.h")

set(_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/tessera)
configure_package_config_file(cmake/tesseraConfig.cmake.in
  ${CMAKE_BINARY_DIR}/install/tesseraConfig.cmake
  INSTALL_DESTINATION ${_cmake_dir}
  PATH_VARS CMAKE_INSTALL_LIBDIR CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/install/tesseraConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/install/tesseraConfig.cmake
              ${CMAKE_BINARY_DIR}/install/tesseraConfigVersion.cmake
        DESTINATION ${_cmake_dir} COMPONENT development)

# pkg-config: relocatable (the prefix is found from the file's own place).
file(RELATIVE_PATH TESSERA_PC_TO_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
list(JOIN TESSERA_STATIC_LINK_FLAGS " " TESSERA_STATIC_LINK_FLAGS_TEXT)
configure_file(cmake/tessera.pc.in ${CMAKE_BINARY_DIR}/install/tessera.pc @ONLY)
configure_file(cmake/tessera-static.pc.in ${CMAKE_BINARY_DIR}/install/tessera-static.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/install/tessera.pc ${CMAKE_BINARY_DIR}/install/tessera-static.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT development)

# The systemd unit (packaging/tessera.service) names the installed command and configuration.
configure_file(packaging/tessera.service ${CMAKE_BINARY_DIR}/install/tessera.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/install/tessera.service DESTINATION lib/systemd/system
        COMPONENT server)
# The configuration, every key at its default and commented: never over an existing one (an
# operator's edits survive `make install`; the Debian package has it as a conffile).
# /etc for a /usr prefix (GNUInstallDirs' rule); otherwise under the prefix given at install time.
if(CMAKE_INSTALL_FULL_SYSCONFDIR STREQUAL "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}")
  set(_etc_at_install "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}/tessera")
else()
  set(_etc_at_install "${CMAKE_INSTALL_FULL_SYSCONFDIR}/tessera")
endif()
# (file(INSTALL) adds DESTDIR itself; the check for an existing file must add it by hand.)
install(CODE "
  set(_etc \"${_etc_at_install}\")
  if(EXISTS \"\$ENV{DESTDIR}\${_etc}/tessera.toml\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}\${_etc}/tessera.toml\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/packaging/tessera.toml\" DESTINATION \"\${_etc}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
  endif()" COMPONENT server)

# logrotate for the audit trail in /var/lib/tessera, which the unit and the configuration above
# name: a system install only (the Debian package, PREFIX=/usr).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  install(FILES packaging/tessera.logrotate DESTINATION /etc/logrotate.d RENAME tessera
          COMPONENT server)
endif()

install(FILES README.md docs/design.md docs/security.md docs/deploying.md docs/cli.md
              docs/limits.md docs/openapi.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT server)
# libsodium's licence, which its copy inside the command and the libraries carries with it.
foreach(_copyright /usr/share/doc/libsodium23/copyright /usr/share/doc/libsodium-dev/copyright)
  if(EXISTS ${_copyright})
    install(FILES ${_copyright} DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright.libsodium
            COMPONENT server)
    install(FILES ${_copyright} DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libtessera-dev
            RENAME copyright.libsodium COMPONENT development)
    break()
  endif()
endforeach()

include(cmake/Package.cmake)
