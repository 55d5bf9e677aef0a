package s3

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// credentialsProfile is the profile of a shared-credentials file Open uses.
const credentialsProfile = "default"

// credentialsFromFile parses the content of an AWS shared-credentials file
// (INI: [profile] sections of key = value lines) and returns static
// credentials from its [default] profile. Errors never quote a value.
func credentialsFromFile(content []byte) (credentials.StaticCredentialsProvider, error) {
	values, err := iniSection(content, credentialsProfile)
	if err != nil {
		return credentials.StaticCredentialsProvider{}, err
	}
	id, secret := values["aws_access_key_id"], values["aws_secret_access_key"]
	if id == "" || secret == "" {
		return credentials.StaticCredentialsProvider{}, fmt.Errorf(
			"s3: credentials file: profile [%s] lacks aws_access_key_id or aws_secret_access_key", credentialsProfile)
	}
	return credentials.NewStaticCredentialsProvider(id, secret, values["aws_session_token"]), nil
}

// iniSection returns the key = value pairs of [name] in an INI text; keys
// are lower-cased, comment lines (# or ;) and other sections are skipped.
func iniSection(content []byte, name string) (map[string]string, error) {
	var (
		values  map[string]string
		current string
		lineNo  int
	)
	sc := bufio.NewScanner(bytes.NewReader(content))
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("s3: credentials file line %d: unterminated section header", lineNo)
			}
			current = strings.TrimSpace(line[1 : len(line)-1])
			if current == name && values == nil {
				values = map[string]string{}
			}
			continue
		}
		if current != name {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("s3: credentials file line %d: expected key = value", lineNo)
		}
		values[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("s3: credentials file: %w", err)
	}
	if values == nil {
		return nil, errors.New("s3: credentials file has no [" + name + "] profile")
	}
	return values, nil
}
