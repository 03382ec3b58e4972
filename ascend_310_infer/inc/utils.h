/**
 * File helpers of the MindIR inference program: sorted directory listing, whole-file reading and
 * writing, folder creation and small string utilities. Every failure throws std::runtime_error whose
 * message names the path.
 */
#ifndef ASCEND_310_INFER_INC_UTILS_H_
#define ASCEND_310_INFER_INC_UTILS_H_

#include <cstddef>
#include <string>
#include <vector>

namespace infer {

// Full paths of the regular files in `folder` whose names end with `suffix`, sorted by name.
std::vector<std::string> ListFiles(const std::string &folder, const std::string &suffix);

// The whole content of a file.
std::vector<char> ReadFile(const std::string &path);

// Writes `size` bytes to `path`, replacing the file.
void WriteFile(const std::string &path, const void *data, size_t size);

// Creates `path` and its missing parents (like `mkdir -p`).
void MakeDirectories(const std::string &path);

// "dir/clip_003.bin" -> "clip_003".
std::string FileStem(const std::string &path);

// Splits on `separator`, dropping empty pieces.
std::vector<std::string> Split(const std::string &text, char separator);

// "a/" + "b" -> "a/b".
std::string JoinPath(const std::string &folder, const std::string &name);

}  // namespace infer

#endif  // ASCEND_310_INFER_INC_UTILS_H_
